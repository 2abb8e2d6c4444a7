// Command program is the private-set-intersection-sum guest program
// (GOOS=wasip1): it reads /input/psi-sum/spend.dat and viewers.dat and
// writes /output/psi-sum.json.
package main

import (
	"fmt"
	"os"

	psisum "github.com/truce-project/truce/examples/private-set-intersection-sum"
)

func main() {
	if err := psisum.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "private-set-intersection-sum:", err)
		os.Exit(1)
	}
}
