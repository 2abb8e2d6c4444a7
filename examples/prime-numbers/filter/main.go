// Command filter is the prime-numbers pipeline's filter step (GOOS=wasip1).
// See package primes.
package main

import (
	"fmt"
	"os"

	primes "github.com/truce-project/truce/examples/prime-numbers"
)

func main() {
	if err := primes.Filter("", os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "prime-numbers filter:", err)
		os.Exit(1)
	}
}
