// Command program is the linear-regression guest program (GOOS=wasip1): it
// fits a line through /input/linear-regression.dat and writes it to
// /output/linear-regression.json.
package main

import (
	"fmt"
	"os"

	linearregression "github.com/truce-project/truce/examples/linear-regression"
)

func main() {
	if err := linearregression.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "linear-regression:", err)
		os.Exit(1)
	}
}
