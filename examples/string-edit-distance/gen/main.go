// Command gen writes the string-edit-distance example's inputs, from a
// fixed seed, below a directory: DIR/input/strings/left.txt and right.txt.
//
//	go run ./examples/string-edit-distance/gen [-large] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/bench/kit"
	editdistance "github.com/truce-project/truce/examples/string-edit-distance"
)

func main() {
	large := flag.Bool("large", false, "write the benchmark size")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-large] DIR")
		os.Exit(2)
	}
	if err := kit.Stage(flag.Arg(0), editdistance.Inputs(*large)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
