// Command program is the logistic-regression guest program (GOOS=wasip1):
// it trains on the records in /input/genomes/ and writes the model and its
// test figures to /output/logistic-regression.json.
package main

import (
	"fmt"
	"os"

	logreg "github.com/truce-project/truce/examples/logistic-regression"
)

func main() {
	if err := logreg.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "logistic-regression:", err)
		os.Exit(1)
	}
}
