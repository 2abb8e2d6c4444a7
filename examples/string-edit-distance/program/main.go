// Command program is the string-edit-distance guest program (GOOS=wasip1):
// it compares /input/strings/left.txt and right.txt and writes
// /output/string-edit-distance.json.
package main

import (
	"fmt"
	"os"

	editdistance "github.com/truce-project/truce/examples/string-edit-distance"
)

func main() {
	if err := editdistance.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "string-edit-distance:", err)
		os.Exit(1)
	}
}
