// Command program is the huffman-encoding guest program (GOOS=wasip1): it
// compresses /input/text.txt into /output/encoded.huf.
package main

import (
	"fmt"
	"os"

	huffman "github.com/truce-project/truce/examples/huffman-encoding"
)

func main() {
	if err := huffman.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "huffman-encoding:", err)
		os.Exit(1)
	}
}
