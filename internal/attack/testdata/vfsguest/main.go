// Command vfsguest is a guest program for the file system attacks of the
// attack suite. What it does depends on the name it was run as (the base
// name of its first argument):
//
//	leak     copies the private /input/alice.dat to /output/leak/result.dat,
//	         waits, then overwrites it with a public result: a reader
//	         polling the output must never see the private input
//	many     makes empty files in /output/many/ until refused, then reports
//	         how many
//	dirs     makes empty directories in /output/dirs/ until refused
//	badname  tries to make files whose names are not valid UTF-8 or hold
//	         control characters or direction marks
//
// It prints "LEAK …" whenever something that must be refused succeeded.
package main

import (
	"fmt"
	"os"
	"path"
	"strings"
	"time"
)

func main() {
	name := strings.TrimSuffix(path.Base(os.Args[0]), ".wasm")
	switch name {
	case "leak":
		b, err := os.ReadFile("/input/alice.dat")
		if err != nil {
			fail(err)
		}
		if err := os.WriteFile("/output/leak/result.dat", b, 0o644); err != nil {
			fail(err)
		}
		time.Sleep(1500 * time.Millisecond)
		if err := os.WriteFile("/output/leak/result.dat", []byte("public result"), 0o644); err != nil {
			fail(err)
		}
	case "many":
		n := 0
		for ; n < 4_000_000; n++ {
			f, err := os.OpenFile(fmt.Sprintf("/output/many/%07d", n), os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				fmt.Printf("refused after %d files: %v\n", n, err)
				return
			}
			f.Close()
		}
		fmt.Printf("LEAK made %d files\n", n)
	case "dirs":
		n := 0
		for ; n < 4_000_000; n++ {
			if err := os.Mkdir(fmt.Sprintf("/output/dirs/%07d", n), 0o755); err != nil {
				fmt.Printf("refused after %d directories: %v\n", n, err)
				return
			}
		}
		fmt.Printf("LEAK made %d directories\n", n)
	case "badname":
		for _, n := range []string{"a\xff", "a\xfe", "tab\tname", "esc\x1b[2J", "rlo\u202etxt.exe"} {
			if err := os.WriteFile("/output/badname/"+n, []byte("x"), 0o644); err == nil {
				fmt.Printf("LEAK made %q\n", n)
			} else {
				fmt.Printf("refused %q: %v\n", n, err)
			}
		}
	default:
		fail(fmt.Errorf("unknown name %q", name))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
