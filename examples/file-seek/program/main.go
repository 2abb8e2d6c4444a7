// Command program is the file-seek guest program (GOOS=wasip1): it
// fetches the records /input/queries.txt names from /input/records.dat by
// seeking, into /output/selected.dat.
package main

import (
	"fmt"
	"os"

	fileseek "github.com/truce-project/truce/examples/file-seek"
)

func main() {
	if err := fileseek.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "file-seek:", err)
		os.Exit(1)
	}
}
