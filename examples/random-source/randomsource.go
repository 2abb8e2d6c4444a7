// Package randomsource is the random-source example: parties who trust
// none of themselves to draw lots let the enclave do it. A requester asks
// for a number of random bytes; the program reads the enclave's randomness
// (WASI random_get), writes the bytes and a thousand fair dice rolls drawn
// from them, and every party may read the result. No party chooses or
// foresees a value; the signed receipt binds the result to the program.
//
// The program must never take its randomness from anything but random_get
// (crypto/rand), and must draw the dice without bias (rejection sampling).
package randomsource

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// The guest paths of the example's files.
const (
	RequestPath = "/input/request.txt"
	BytesPath   = "/output/random.dat"
	DicePath    = "/output/dice.txt"
)

// Rolls is the number of dice rolls written to DicePath.
const Rolls = 1000

// Sizes of the request, in random bytes.
const (
	NormalBytes = 64 << 10
	LargeBytes  = 16 << 20
	// MaxBytes bounds a request.
	MaxBytes = 256 << 20
)

// ErrRequest is returned for a request that is not a byte count in
// 0..MaxBytes.
var ErrRequest = errors.New("the request is not a number of bytes")

// Inputs returns the requester's file for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n := NormalBytes
	if large {
		n = LargeBytes
	}
	return map[string][]byte{RequestPath: []byte(strconv.Itoa(n) + "\n")}
}

// ParseRequest reads the byte count of a request.
func ParseRequest(b []byte) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > MaxBytes {
		return 0, fmt.Errorf("%q: %w (0 to %d)", bytes.TrimSpace(b), ErrRequest, MaxBytes)
	}
	return n, nil
}

// Dice draws n fair rolls of a six-sided die from r, rejecting the byte
// values 252..255 so that every face is equally likely.
func Dice(r io.Reader, n int) ([]int, error) {
	out := make([]int, 0, n)
	buf := make([]byte, 64)
	for len(out) < n {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, fmt.Errorf("reading randomness: %w", err)
		}
		for _, b := range buf {
			if b < 252 && len(out) < n {
				out = append(out, int(b%6)+1)
			}
		}
	}
	return out, nil
}

// Main is the program: it writes the requested number of random bytes to
// BytesPath and Rolls dice rolls, one per line, to DicePath, below root.
func Main(root string, stdout io.Writer) error {
	req, err := os.ReadFile(root + RequestPath)
	if err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	n, err := ParseRequest(req)
	if err != nil {
		return err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return fmt.Errorf("reading randomness: %w", err)
	}
	if err := os.WriteFile(root+BytesPath, b, 0o644); err != nil {
		return fmt.Errorf("writing the random bytes: %w", err)
	}
	rolls, err := Dice(rand.Reader, Rolls)
	if err != nil {
		return err
	}
	var d bytes.Buffer
	for _, r := range rolls {
		fmt.Fprintln(&d, r)
	}
	if err := os.WriteFile(root+DicePath, d.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the dice: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "drew %d random bytes and %d dice\n", n, Rolls)
	return err
}
