// Command cpu runs one CPU-bound workload, for measuring how much slower
// a backend runs code than the host does natively:
//
//	sort      sort 10^6 pseudo-random integers
//	sha256    SHA-256 over 64 MiB
//	matmul    multiply two 256x256 matrices of float64
//
// It prints a checksum of the result, so the work cannot be skipped and
// every backend can be checked to compute the same thing.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: cpu sort|sha256|matmul")
		os.Exit(64)
	}
	switch os.Args[1] {
	case "sort":
		fmt.Println(sortInts(1_000_000))
	case "sha256":
		fmt.Printf("%x\n", sum(64<<20))
	case "matmul":
		fmt.Printf("%.6e\n", matmul(256))
	default:
		fmt.Fprintf(os.Stderr, "unknown workload %q\n", os.Args[1])
		os.Exit(64)
	}
}

// rng is a fixed xorshift generator, so every run does the same work.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = rng(x)
	return x
}

func sortInts(n int) uint64 {
	r := rng(88172645463325252)
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = int64(r.next() >> 1)
	}
	slices.Sort(xs)
	var h uint64
	for i, x := range xs {
		h = h*31 + uint64(x)*uint64(i+1)
	}
	return h
}

func sum(n int) [32]byte {
	buf := make([]byte, 1<<20)
	r := rng(2463534242)
	for i := range buf {
		buf[i] = byte(r.next())
	}
	h := sha256.New()
	for range n / len(buf) {
		h.Write(buf)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func matmul(n int) float64 {
	r := rng(1)
	a, b, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	for i := range a {
		a[i] = float64(r.next()%1000) / 1000
		b[i] = float64(r.next()%1000) / 1000
	}
	for i := range n {
		for k := range n {
			aik := a[i*n+k]
			for j := range n {
				c[i*n+j] += aik * b[k*n+j]
			}
		}
	}
	var s float64
	for _, x := range c {
		s += x
	}
	return s
}
