// Command upper is the story package's test guest: it reads /input/in.txt,
// appends its upper-case form to /output/out.txt and says how many bytes it
// wrote.
package main

import (
	"bytes"
	"fmt"
	"os"
)

func main() {
	b, err := os.ReadFile("/input/in.txt")
	if err != nil {
		fmt.Fprintln(os.Stderr, "upper:", err)
		os.Exit(1)
	}
	f, err := os.OpenFile("/output/out.txt", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "upper:", err)
		os.Exit(1)
	}
	n, err := f.Write(bytes.ToUpper(b))
	if err == nil {
		err = f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "upper:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d bytes\n", n)
}
