package randomsource

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
)

// chiSquare is Pearson's statistic of counts against equal expected
// frequencies.
func chiSquare(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	e := float64(total) / float64(len(counts))
	s := 0.0
	for _, c := range counts {
		d := float64(c) - e
		s += d * d / e
	}
	return s
}

// checkShape checks the outputs' shape and statistics (not their values):
// the length asked for, bytes and dice each uniform by a chi-square test
// whose bound a fair source exceeds with probability below 1e-7.
func checkShape(t *testing.T, want int, files map[string][]byte, stdout string) {
	t.Helper()
	b := files[BytesPath]
	if len(b) != want {
		t.Fatalf("%d random bytes, asked for %d", len(b), want)
	}
	counts := make([]int, 256)
	for _, c := range b {
		counts[c]++
	}
	// 255 degrees of freedom: mean 255, sd 22.6.
	if x := chiSquare(counts); x > 420 {
		t.Errorf("random bytes are not uniform: chi-square %.1f over 255 degrees of freedom", x)
	}
	lines := strings.Fields(string(files[DicePath]))
	if len(lines) != Rolls {
		t.Fatalf("%d dice, want %d", len(lines), Rolls)
	}
	faces := make([]int, 6)
	for _, l := range lines {
		v, err := strconv.Atoi(l)
		if err != nil || v < 1 || v > 6 {
			t.Fatalf("die roll %q", l)
		}
		faces[v-1]++
	}
	// 5 degrees of freedom.
	if x := chiSquare(faces); x > 40 {
		t.Errorf("dice are not fair: counts %v, chi-square %.1f over 5 degrees of freedom", faces, x)
	}
	if w := fmt.Sprintf("drew %d random bytes and %d dice\n", want, Rolls); stdout != w {
		t.Errorf("stdout %q, want %q", stdout, w)
	}
}

func check(t *testing.T, inputs, files map[string][]byte, stdout string) {
	t.Helper()
	checkShape(t, NormalBytes, files, stdout)
}

func TestAllWays(t *testing.T) { kit.TestAllWays(t, Example(), check) }

// TestChiSquareCatchesBias makes sure the statistics would catch a biased
// source: a counter, and dice from plain modulo of a biased stream.
func TestChiSquareCatchesBias(t *testing.T) {
	counts := make([]int, 256)
	for i := range 1 << 16 {
		counts[(i*i)&255]++ // squares mod 256 hit few residues
	}
	if x := chiSquare(counts); x < 420 {
		t.Errorf("squares pass as uniform: %.1f", x)
	}
	low := bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 0, 1}, 200)
	rolls, err := Dice(bytes.NewReader(low), Rolls)
	if err != nil {
		t.Fatal(err)
	}
	faces := make([]int, 6)
	for _, r := range rolls {
		faces[r-1]++
	}
	if x := chiSquare(faces); x < 40 {
		t.Errorf("biased dice pass as fair: %v", faces)
	}
}

func TestDiceRejects(t *testing.T) {
	src := append(bytes.Repeat([]byte{255, 254, 253, 252}, 16), bytes.Repeat([]byte{251}, 64)...)
	rolls, err := Dice(bytes.NewReader(src), 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rolls {
		if r != 251%6+1 {
			t.Fatalf("rolls %v: a rejected byte was used", rolls)
		}
	}
	if _, err := Dice(bytes.NewReader(nil), 1); err == nil {
		t.Fatal("Dice on an empty source did not fail")
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int
		ok bool
	}{{"10\n", 10, true}, {"0", 0, true}, {"-1", 0, false}, {"x", 0, false}, {"", 0, false}, {"999999999999", 0, false}} {
		n, err := ParseRequest([]byte(tc.in))
		if tc.ok != (err == nil) || n != tc.n || (err != nil && !errors.Is(err, ErrRequest)) {
			t.Errorf("ParseRequest(%q) = %d, %v", tc.in, n, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("65536\n"))
	f.Add([]byte("-0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseRequest(b)
		if err == nil && (n < 0 || n > MaxBytes) {
			t.Fatalf("accepted %d", n)
		}
	})
}
