// Command program is the Shamir example's guest program, built for
// GOOS=wasip1: it reads /input/shamir-0.dat, /input/shamir-1.dat, … until
// the next one is missing, combines the shares and writes the secret to
// /output/shamir.dat. It must never print the secret or the shares.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/truce-project/truce/examples/shamir/shamir"
)

func main() {
	var shares [][]byte
	for i := 0; ; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/input/shamir-%d.dat", i))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			break
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "shamir:", err)
			os.Exit(1)
		}
		shares = append(shares, b)
	}
	secret, err := shamir.Combine(shares)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shamir:", err)
		os.Exit(1)
	}
	if err := os.WriteFile("/output/shamir.dat", secret, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "shamir:", err)
		os.Exit(1)
	}
	fmt.Printf("combined %d shares\n", len(shares))
}
