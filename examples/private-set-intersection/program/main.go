// Command program is the private-set-intersection guest program
// (GOOS=wasip1): it intersects the sets in /input/psi/ and writes
// /output/intersection.json.
package main

import (
	"fmt"
	"os"

	psi "github.com/truce-project/truce/examples/private-set-intersection"
)

func main() {
	if err := psi.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "private-set-intersection:", err)
		os.Exit(1)
	}
}
