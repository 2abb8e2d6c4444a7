// Command gen writes the intersection-set-sum example's inputs, from a
// fixed seed, below a directory: DIR/input/adverts/viewers.txt and DIR/input/shop/customers.csv.
//
//	go run ./examples/intersection-set-sum/gen [-large] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/bench/kit"
	intersectionsetsum "github.com/truce-project/truce/examples/intersection-set-sum"
)

func main() {
	large := flag.Bool("large", false, "write the benchmark size")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-large] DIR")
		os.Exit(2)
	}
	if err := kit.Stage(flag.Arg(0), intersectionsetsum.Inputs(*large)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
