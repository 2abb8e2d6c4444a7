// Package primes is the prime-numbers example, a pipeline of two programs
// run by the policy's "primes" pipeline: the first (./generate) turns a
// requested range into the candidates a 6k±1 wheel leaves, the second
// (./filter) keeps those that are prime (Miller–Rabin with the bases that
// decide every 64-bit number). The requester reads the primes; the
// candidates pass between the programs in the enclave, readable by nobody.
//
// ParseRange and DecodeCandidates read untrusted bytes: they must never
// panic.
package primes

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// The guest paths of the example's files.
const (
	RangePath      = "/input/range.txt"
	CandidatesPath = "/pipeline/candidates.dat"
	OutputPath     = "/output/primes.txt"
)

// MaxSpan bounds the width of a range.
const MaxSpan = 1 << 26

// The ranges: normal for tests, large for benchmarks.
const (
	NormalLo, NormalHi = 1_000_000_000_000, 1_000_000_020_000
	LargeLo, LargeHi   = 1_000_000_000_000_000, 1_000_000_000_200_000
)

// ErrFormat is returned for a range or candidates file that cannot be read.
var ErrFormat = errors.New("malformed input")

// Inputs returns the requester's file for the normal or large size.
func Inputs(large bool) map[string][]byte {
	if large {
		return map[string][]byte{RangePath: fmt.Appendf(nil, "%d %d\n", uint64(LargeLo), uint64(LargeHi))}
	}
	return map[string][]byte{RangePath: fmt.Appendf(nil, "%d %d\n", uint64(NormalLo), uint64(NormalHi))}
}

// ParseRange reads "LO HI", 0 ≤ LO ≤ HI < 2^64, HI-LO < MaxSpan.
func ParseRange(b []byte) (lo, hi uint64, err error) {
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf(`range %q is not "LO HI": %w`, b, ErrFormat)
	}
	lo, err1 := strconv.ParseUint(f[0], 10, 64)
	hi, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || lo > hi || hi-lo >= MaxSpan {
		return 0, 0, fmt.Errorf("range %q: two numbers LO ≤ HI below 2^64, less than %d apart: %w", f, MaxSpan, ErrFormat)
	}
	return lo, hi, nil
}

// Candidates returns the numbers of [lo, hi] that may be prime by the 6k±1
// wheel: 2, 3, and those ≡ 1 or 5 mod 6.
func Candidates(lo, hi uint64) []uint64 {
	var out []uint64
	for n := lo; ; n++ {
		if n == 2 || n == 3 || n%6 == 1 || n%6 == 5 {
			out = append(out, n)
		}
		if n == hi {
			return out
		}
	}
}

// EncodeCandidates writes the numbers as little-endian uint64s.
func EncodeCandidates(v []uint64) []byte {
	out := make([]byte, 0, 8*len(v))
	for _, x := range v {
		out = binary.LittleEndian.AppendUint64(out, x)
	}
	return out
}

// DecodeCandidates is the inverse of EncodeCandidates.
func DecodeCandidates(b []byte) ([]uint64, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("candidates: %d bytes, not whole uint64s: %w", len(b), ErrFormat)
	}
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out, nil
}

// mulmod returns a*b mod m without overflow.
func mulmod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, r := bits.Div64(hi%m, lo, m)
	return r
}

func powmod(a, e, m uint64) uint64 {
	r := uint64(1)
	a %= m
	for ; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = mulmod(r, a, m)
		}
		a = mulmod(a, a, m)
	}
	return r
}

// IsPrime decides primality of any 64-bit number: Miller–Rabin with the
// first twelve primes as bases is exact below 3.3·10^24.
func IsPrime(n uint64) bool {
	if n < 2 {
		return false
	}
	bases := []uint64{2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37}
	for _, p := range bases {
		if n%p == 0 {
			return n == p
		}
	}
	d, s := n-1, 0
	for d%2 == 0 {
		d /= 2
		s++
	}
	for _, a := range bases {
		x := powmod(a, d, n)
		if x == 1 || x == n-1 {
			continue
		}
		composite := true
		for range s - 1 {
			x = mulmod(x, x, n)
			if x == n-1 {
				composite = false
				break
			}
		}
		if composite {
			return false
		}
	}
	return true
}

// Generate is the first program: RangePath → CandidatesPath, below root.
func Generate(root string, stdout io.Writer) error {
	b, err := os.ReadFile(root + RangePath)
	if err != nil {
		return fmt.Errorf("reading the range: %w", err)
	}
	lo, hi, err := ParseRange(b)
	if err != nil {
		return err
	}
	c := Candidates(lo, hi)
	if err := os.WriteFile(root+CandidatesPath, EncodeCandidates(c), 0o644); err != nil {
		return fmt.Errorf("writing the candidates: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%d candidates in [%d, %d]\n", len(c), lo, hi)
	return err
}

// Filter is the second program: CandidatesPath → OutputPath (one prime
// per line), below root.
func Filter(root string, stdout io.Writer) error {
	b, err := os.ReadFile(root + CandidatesPath)
	if err != nil {
		return fmt.Errorf("reading the candidates: %w", err)
	}
	c, err := DecodeCandidates(b)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	n := 0
	for _, x := range c {
		if IsPrime(x) {
			out.WriteString(strconv.FormatUint(x, 10))
			out.WriteByte('\n')
			n++
		}
	}
	if err := os.WriteFile(root+OutputPath, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the primes: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%d primes\n", n)
	return err
}
