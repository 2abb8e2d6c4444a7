// Command gen writes the private-set-intersection example's inputs, from a
// fixed seed, below a directory: DIR/input/psi/acme.json and globex.json.
//
//	go run ./examples/private-set-intersection/gen [-large] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/bench/kit"
	psi "github.com/truce-project/truce/examples/private-set-intersection"
)

func main() {
	large := flag.Bool("large", false, "write the benchmark size")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-large] DIR")
		os.Exit(2)
	}
	if err := kit.Stage(flag.Arg(0), psi.Inputs(*large)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
