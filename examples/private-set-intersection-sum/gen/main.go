// Command gen writes the private-set-intersection-sum example's inputs, from a
// fixed seed, below a directory: DIR/input/psi-sum/spend.dat and viewers.dat.
//
//	go run ./examples/private-set-intersection-sum/gen [-large] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/bench/kit"
	psisum "github.com/truce-project/truce/examples/private-set-intersection-sum"
)

func main() {
	large := flag.Bool("large", false, "write the benchmark size")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-large] DIR")
		os.Exit(2)
	}
	if err := kit.Stage(flag.Arg(0), psisum.Inputs(*large)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
