// Command generate is the prime-numbers pipeline's generate step (GOOS=wasip1).
// See package primes.
package main

import (
	"fmt"
	"os"

	primes "github.com/truce-project/truce/examples/prime-numbers"
)

func main() {
	if err := primes.Generate("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prime-numbers generate:", err)
		os.Exit(1)
	}
}
