package primes

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
)

// reference lists the primes of [lo, hi] with math/big's ProbablyPrime(0)
// (Baillie–PSW, exact below 2^64), independently of the programs' code.
func reference(lo, hi uint64) string {
	var b strings.Builder
	var n big.Int
	for x := lo; ; x++ {
		if n.SetUint64(x).ProbablyPrime(0) {
			fmt.Fprintln(&b, x)
		}
		if x == hi {
			return b.String()
		}
	}
}

func check(t *testing.T, inputs, files map[string][]byte, stdout string) {
	t.Helper()
	want := reference(NormalLo, NormalHi)
	if got := string(files[OutputPath]); got != want {
		t.Errorf("%s: %d lines, want %d", OutputPath, strings.Count(got, "\n"), strings.Count(want, "\n"))
	}
	cand := Candidates(NormalLo, NormalHi)
	if w := fmt.Sprintf("%d candidates in [%d, %d]\n%d primes\n", len(cand), uint64(NormalLo), uint64(NormalHi), strings.Count(want, "\n")); stdout != w {
		t.Errorf("stdout %q, want %q", stdout, w)
	}
}

func TestAllWays(t *testing.T) { kit.TestAllWays(t, Example(), check) }

func TestIsPrime(t *testing.T) {
	for _, r := range [][2]uint64{{0, 2000}, {1<<64 - 1000, 1<<64 - 1}, {3215031751 - 10, 3215031751 + 10}, {341550071728321 - 5, 341550071728321 + 5}} {
		want := reference(r[0], r[1])
		var got strings.Builder
		for x := r[0]; ; x++ {
			if IsPrime(x) {
				fmt.Fprintln(&got, x)
			}
			if x == r[1] {
				break
			}
		}
		if got.String() != want {
			t.Errorf("[%d, %d]: IsPrime disagrees with math/big", r[0], r[1])
		}
	}
}

func TestCandidatesKeepEveryPrime(t *testing.T) {
	c := map[uint64]bool{}
	for _, x := range Candidates(0, 10000) {
		c[x] = true
	}
	for _, line := range strings.Fields(reference(0, 10000)) {
		var p uint64
		fmt.Sscan(line, &p)
		if !c[p] {
			t.Fatalf("prime %d is not a candidate", p)
		}
	}
	// 2^64 ≡ 4 (mod 6): 2^64-5 and 2^64-3 are the candidates; the loop
	// must stop at the top of the range.
	if got := Candidates(1<<64-6, 1<<64-1); len(got) != 2 || got[0] != 1<<64-5 || got[1] != 1<<64-3 {
		t.Fatalf("Candidates at the top of the range = %v", got)
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"1 10", true}, {"5 5\n", true}, {"10 1", false}, {"0 99999999999", false}, {"1", false}, {"-1 3", false}, {"18446744073709551615 18446744073709551615", true}, {"18446744073709551616 1", false}} {
		if _, _, err := ParseRange([]byte(tc.in)); tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrFormat)) {
			t.Errorf("ParseRange(%q) = %v", tc.in, err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	f.Add([]byte("1000 2000"))
	f.Add([]byte("18446744073709551615 18446744073709551615"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lo, hi, err := ParseRange(b)
		if err == nil && (lo > hi || hi-lo >= MaxSpan) {
			t.Fatalf("accepted [%d, %d]", lo, hi)
		}
	})
}

func FuzzDecodeCandidates(f *testing.F) {
	f.Add(EncodeCandidates([]uint64{2, 3, 5}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeCandidates(b)
		if err == nil && string(EncodeCandidates(v)) != string(b) {
			t.Fatal("round trip differs")
		}
	})
}
