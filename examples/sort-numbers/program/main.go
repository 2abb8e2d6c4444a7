// Command program is the sort-numbers guest program (GOOS=wasip1): it sorts
// /input/numbers.dat into /output/sorted.dat.
package main

import (
	"fmt"
	"os"

	sortnumbers "github.com/truce-project/truce/examples/sort-numbers"
)

func main() {
	if err := sortnumbers.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sort-numbers:", err)
		os.Exit(1)
	}
}
