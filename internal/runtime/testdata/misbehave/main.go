// Command misbehave is a guest program for the runtime's tests. What it
// does depends on the name it was run as (its first argument's base name):
// fail exits 3, loop never ends, hog grabs memory until stopped, trap
// panics, copy copies /output/shamir.dat to /output/copy.dat, and
// anything else exits 0.
package main

import (
	"fmt"
	"os"
	"path"
	"strings"
)

var sink [][]byte

func main() {
	name := strings.TrimSuffix(path.Base(os.Args[0]), ".wasm")
	switch name {
	case "fail":
		fmt.Fprintln(os.Stderr, "failing on purpose")
		os.Exit(3)
	case "loop":
		for i := 0; ; i++ {
			if i < 0 {
				fmt.Println(i)
			}
		}
	case "hog":
		for {
			sink = append(sink, make([]byte, 16<<20))
		}
	case "trap":
		panic("trapping on purpose")
	case "copy":
		b, err := os.ReadFile("/output/shamir.dat")
		if err != nil {
			fmt.Fprintln(os.Stderr, "copy:", err)
			os.Exit(1)
		}
		if err := os.WriteFile("/output/copy.dat", b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "copy:", err)
			os.Exit(1)
		}
	}
	fmt.Println("ok", name)
}
