// Command gen writes the logistic-regression example's synthetic records,
// from a fixed seed, below a directory: DIR/input/genomes/hospital-a.csv
// and hospital-b.csv.
//
//	go run ./examples/logistic-regression/gen [-large] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/bench/kit"
	logreg "github.com/truce-project/truce/examples/logistic-regression"
)

func main() {
	large := flag.Bool("large", false, "write the benchmark size")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-large] DIR")
		os.Exit(2)
	}
	if err := kit.Stage(flag.Arg(0), logreg.Inputs(*large)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
