// Package sortnumbers is the sort-numbers example: a data owner uploads a
// list of 64-bit signed integers, the program sorts them in the enclave, and
// the result reader reads the sorted list. The program exists twice, in Go
// (./program) and in C (./program-c), reading and writing the same files.
//
// The file format is the numbers as little-endian 8-byte two's-complement
// integers, back to back. The program must never write anything but the
// sorted numbers, nor print the numbers themselves.
package sortnumbers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
)

// The guest paths of the example's files.
const (
	InputPath  = "/input/numbers.dat"
	OutputPath = "/output/sorted.dat"
)

// Sizes of the generated input, in numbers.
const (
	NormalCount = 20_000
	LargeCount  = 1_000_000
)

// ErrFormat is returned for an input whose length is not a multiple of 8.
var ErrFormat = errors.New("numbers file is not a whole number of 8-byte integers")

// Generate returns count pseudo-random numbers from a fixed seed, encoded:
// the same count always gives the same bytes.
func Generate(count int) []byte {
	r := rand.New(rand.NewPCG(7, 0x50f7))
	out := make([]byte, 8*count)
	for i := range count {
		binary.LittleEndian.PutUint64(out[8*i:], r.Uint64())
	}
	return out
}

// Inputs returns the data owner's file for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n := NormalCount
	if large {
		n = LargeCount
	}
	return map[string][]byte{InputPath: Generate(n)}
}

// Decode parses the numbers file.
func Decode(b []byte) ([]int64, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("%d bytes: %w", len(b), ErrFormat)
	}
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, nil
}

// Encode is the inverse of Decode.
func Encode(v []int64) []byte {
	out := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(out[8*i:], uint64(x))
	}
	return out
}

// Main is the program: it sorts the numbers of InputPath below root into
// OutputPath below root and prints how many it sorted.
func Main(root string, stdout io.Writer) error {
	b, err := os.ReadFile(root + InputPath)
	if err != nil {
		return fmt.Errorf("reading the numbers: %w", err)
	}
	v, err := Decode(b)
	if err != nil {
		return err
	}
	slices.Sort(v)
	if err := os.WriteFile(root+OutputPath, Encode(v), 0o644); err != nil {
		return fmt.Errorf("writing the sorted numbers: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "sorted %d numbers\n", len(v))
	return err
}
