// Command program is the number-stream-accumulation guest program
// (GOOS=wasip1): it adds the new readings of /input/stream/readings.dat to
// the running state /output/accumulation.json.
package main

import (
	"fmt"
	"os"

	numberstream "github.com/truce-project/truce/examples/number-stream-accumulation"
)

func main() {
	if err := numberstream.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "number-stream-accumulation:", err)
		os.Exit(1)
	}
}
