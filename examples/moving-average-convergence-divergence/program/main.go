// Command program is the moving-average-convergence-divergence guest
// program (GOOS=wasip1): it computes the MACD of /input/prices.dat into
// /output/macd/histogram.dat and decisions.dat.
package main

import (
	"fmt"
	"os"

	macd "github.com/truce-project/truce/examples/moving-average-convergence-divergence"
)

func main() {
	if err := macd.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "moving-average-convergence-divergence:", err)
		os.Exit(1)
	}
}
