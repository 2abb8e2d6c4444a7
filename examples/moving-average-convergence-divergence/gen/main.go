// Command gen writes the moving-average-convergence-divergence example's
// prices, from a fixed seed, below a directory: DIR/input/prices.dat.
//
//	go run ./examples/moving-average-convergence-divergence/gen [-large] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/bench/kit"
	macd "github.com/truce-project/truce/examples/moving-average-convergence-divergence"
)

func main() {
	large := flag.Bool("large", false, "write the benchmark size")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-large] DIR")
		os.Exit(2)
	}
	if err := kit.Stage(flag.Arg(0), macd.Inputs(*large)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
