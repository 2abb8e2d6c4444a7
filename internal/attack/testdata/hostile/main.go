// Command hostile is a guest program for the attack suite. What it does
// depends on the name it was run as (the base name of its first argument):
//
//	copy      copies /input/alice.dat to /output/copy.dat
//	loop      loops forever without calling the host
//	hog       grabs memory until stopped
//	spew      writes 64 MiB to stdout
//	bigfile   writes to /output/big.dat until refused, then reports
//	pointers  calls WASI functions with pointers outside its memory
//	escape    tries to reach files outside its capabilities
//	cat       prints /output/copy.dat to stdout and stderr
//	exitcode  exits with the first three bytes of /output/copy.dat as its
//	          exit code
//
// It prints "LEAK …" whenever something that must be refused succeeded.
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

var sink [][]byte

func main() {
	name := strings.TrimSuffix(path.Base(os.Args[0]), ".wasm")
	switch name {
	case "copy":
		b, err := os.ReadFile("/input/alice.dat")
		if err != nil {
			fmt.Fprintln(os.Stderr, "copy:", err)
			os.Exit(1)
		}
		if err := os.WriteFile("/output/copy.dat", b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "copy:", err)
			os.Exit(1)
		}
	case "loop":
		for i := 0; ; i++ {
			if i < 0 {
				fmt.Println(i)
			}
		}
	case "hog":
		for {
			b := make([]byte, 4<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			sink = append(sink, b)
		}
	case "spew":
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for range 64 {
			if _, err := os.Stdout.Write(chunk); err != nil {
				fmt.Fprintln(os.Stderr, "spew:", err)
				os.Exit(1)
			}
		}
	case "bigfile":
		f, err := os.OpenFile("/output/big.dat", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			fmt.Println("create:", err)
			os.Exit(1)
		}
		chunk := bytes.Repeat([]byte("y"), 1<<20)
		n := 0
		for n < 64<<20 {
			w, err := f.Write(chunk)
			n += w
			if err != nil {
				fmt.Printf("refused after %d bytes: %v\n", n, err)
				os.Exit(0)
			}
		}
		fmt.Printf("LEAK wrote %d bytes\n", n)
	case "pointers":
		pointers()
	case "escape":
		escape()
	case "cat":
		b, err := os.ReadFile("/output/copy.dat")
		if err != nil {
			fmt.Fprintln(os.Stderr, "cat:", err)
			os.Exit(1)
		}
		os.Stdout.Write(b)
		os.Stderr.Write(b)
	case "exitcode":
		b, err := os.ReadFile("/output/copy.dat")
		if err != nil || len(b) < 3 {
			os.Exit(1)
		}
		os.Exit(int(b[0]) | int(b[1])<<8 | int(b[2])<<16)
	}
	fmt.Println("done", name)
}

func escape() {
	reads := []string{"/input/bob.dat", "/input/../input/bob.dat", "/output/escape/../../input/bob.dat",
		"/program/copy.wasm", "/input/mallory/x", "../input/bob.dat", "/input/alice.dat/../bob.dat"}
	for _, p := range reads {
		if b, err := os.ReadFile(p); err == nil {
			fmt.Printf("LEAK read %s (%d bytes)\n", p, len(b))
		}
	}
	writes := []string{"/input/alice.dat", "/input/bob.dat", "/output/copy.dat", "/output/escape/../copy.dat",
		"/program/copy.wasm", "/program/new.wasm", "/new.dat", "/output/escape/../../input/new.dat"}
	for _, p := range writes {
		if err := os.WriteFile(p, []byte("forged"), 0o644); err == nil {
			fmt.Printf("LEAK wrote %s\n", p)
		}
	}
	for _, p := range []string{"/input/alice.dat", "/input/bob.dat"} {
		if err := os.Remove(p); err == nil {
			fmt.Printf("LEAK removed %s\n", p)
		}
		if err := os.Rename(p, "/output/escape/stolen.dat"); err == nil {
			fmt.Printf("LEAK renamed %s\n", p)
		}
	}
	if ents, err := os.ReadDir("/input"); err == nil {
		for _, e := range ents {
			if e.Name() != "alice.dat" {
				fmt.Printf("LEAK listed /input/%s\n", e.Name())
			}
		}
	}
	// Its own grant works, so the refusals above are not a broken file system.
	b, err := os.ReadFile("/input/alice.dat")
	if err != nil {
		fmt.Println("cannot read own input:", err)
		os.Exit(1)
	}
	if err := os.WriteFile("/output/escape/ok.dat", b, 0o644); err != nil {
		fmt.Println("cannot write own output:", err)
		os.Exit(1)
	}
	f, err := os.Open("/input/alice.dat")
	if err == nil {
		if _, err := f.Write([]byte("x")); err == nil {
			fmt.Println("LEAK wrote through a read-only handle")
		}
		io.Copy(io.Discard, f)
		f.Close()
	}
}
