// Command program is the fd-create guest program (GOOS=wasip1): it
// creates, writes, reads back, moves, removes and lists the files
// /input/layout.txt asks for, below /output/.
package main

import (
	"fmt"
	"os"

	fdcreate "github.com/truce-project/truce/examples/fd-create"
)

func main() {
	if err := fdcreate.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fd-create:", err)
		os.Exit(1)
	}
}
