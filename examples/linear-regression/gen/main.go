// Command gen writes the linear-regression example's input, from a fixed
// seed, below a directory: DIR/input/linear-regression.dat.
//
//	go run ./examples/linear-regression/gen [-large] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/bench/kit"
	linearregression "github.com/truce-project/truce/examples/linear-regression"
)

func main() {
	large := flag.Bool("large", false, "write the benchmark size")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-large] DIR")
		os.Exit(2)
	}
	if err := kit.Stage(flag.Arg(0), linearregression.Inputs(*large)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
