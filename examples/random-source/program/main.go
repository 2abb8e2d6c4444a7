// Command program is the random-source guest program (GOOS=wasip1): it
// writes the bytes /input/request.txt asks for to /output/random.dat and
// dice rolls to /output/dice.txt, from WASI random_get.
package main

import (
	"fmt"
	"os"

	randomsource "github.com/truce-project/truce/examples/random-source"
)

func main() {
	if err := randomsource.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "random-source:", err)
		os.Exit(1)
	}
}
