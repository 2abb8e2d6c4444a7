// Command program is the string-search guest program (GOOS=wasip1): it
// counts the phrases of /input/patterns.txt in /input/text.txt and writes
// /output/matches.txt.
package main

import (
	"fmt"
	"os"

	stringsearch "github.com/truce-project/truce/examples/string-search"
)

func main() {
	if err := stringsearch.Main("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "string-search:", err)
		os.Exit(1)
	}
}
