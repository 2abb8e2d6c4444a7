// Command gen writes the number-stream-accumulation example's whole stream,
// from a fixed seed, below a directory: DIR/input/stream/readings.dat.
//
//	go run ./examples/number-stream-accumulation/gen [-large] DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/bench/kit"
	numberstream "github.com/truce-project/truce/examples/number-stream-accumulation"
)

func main() {
	large := flag.Bool("large", false, "write the benchmark size")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen [-large] DIR")
		os.Exit(2)
	}
	if err := kit.Stage(flag.Arg(0), numberstream.Inputs(*large)); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
