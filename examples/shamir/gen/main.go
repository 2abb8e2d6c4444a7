// Command gen splits a secret into Shamir shares for the example, one hex
// share per line on stdout, as Veracruz's share generator does:
//
//	go run ./examples/shamir/gen -n 3 -k 2 "Hello World!"
//
// Decode a line (xxd -r -p) and write it to /input/shamir-I.dat.
package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/examples/shamir/shamir"
)

func main() {
	n := flag.Int("n", 3, "number of shares")
	k := flag.Int("k", 0, "shares needed to reconstruct (default n)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gen -n N [-k K] SECRET")
		os.Exit(2)
	}
	if *k == 0 {
		*k = *n
	}
	shares, err := shamir.Split([]byte(flag.Arg(0)), *n, *k, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	for _, s := range shares {
		fmt.Println(hex.EncodeToString(s))
	}
}
