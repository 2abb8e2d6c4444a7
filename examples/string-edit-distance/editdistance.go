// Package editdistance is the string-edit-distance example: two parties
// each upload a text, the program compares them in the enclave, and both
// learn how far apart the texts are — the Levenshtein edit distance and
// the Jaro-Winkler similarity — but not the other's text.
//
// Each input is a UTF-8 text of at most MaxRunes characters, compared
// character (rune) by character; the output is JSON {"levenshtein": n,
// "jaro_winkler": s, "left_runes": a, "right_runes": b}. The program must
// never write or print the texts.
package editdistance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"unicode/utf8"
)

// The guest paths of the example's files.
const (
	ProgramPath = "/program/string-edit-distance.wasm"
	LeftPath    = "/input/strings/left.txt"
	RightPath   = "/input/strings/right.txt"
	OutputPath  = "/output/string-edit-distance.json"
)

// Sizes of the generated texts, in characters.
const (
	NormalRunes = 2_000
	LargeRunes  = 40_000
)

// MaxRunes bounds each text: the distance takes time proportional to the
// product of the lengths.
const MaxRunes = 100_000

// ErrFormat is returned for a text that is not UTF-8 or is too long.
var ErrFormat = errors.New("text is not UTF-8 of at most 100000 characters")

// Result is what both parties learn.
type Result struct {
	Levenshtein int     `json:"levenshtein"`
	JaroWinkler float64 `json:"jaro_winkler"`
	LeftRunes   int     `json:"left_runes"`
	RightRunes  int     `json:"right_runes"`
}

// Generate returns two texts of about n characters each, the second a
// mutation of the first (substitutions, insertions and deletions of about
// one character in ten), from a fixed seed: the same n always gives the
// same bytes.
func Generate(n int) (left, right []byte) {
	r := rand.New(rand.NewPCG(5, 0xed17))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyz     éßøλ")
	a := make([]rune, n)
	for i := range a {
		a[i] = alphabet[r.IntN(len(alphabet))]
	}
	var b []rune
	for _, c := range a {
		switch r.IntN(30) {
		case 0: // substitute
			b = append(b, alphabet[r.IntN(len(alphabet))])
		case 1: // insert
			b = append(b, c, alphabet[r.IntN(len(alphabet))])
		case 2: // delete
		default:
			b = append(b, c)
		}
	}
	return []byte(string(a)), []byte(string(b))
}

// Inputs returns the parties' files for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n := NormalRunes
	if large {
		n = LargeRunes
	}
	l, r := Generate(n)
	return map[string][]byte{LeftPath: l, RightPath: r}
}

// Decode checks a text and returns its characters.
func Decode(b []byte) ([]rune, error) {
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("%w: invalid UTF-8", ErrFormat)
	}
	if n := utf8.RuneCount(b); n > MaxRunes {
		return nil, fmt.Errorf("%w: %d characters", ErrFormat, n)
	}
	return []rune(string(b)), nil
}

// Levenshtein returns the least number of single-character insertions,
// deletions and substitutions that turn a into b.
func Levenshtein(a, b []rune) int {
	if len(a) < len(b) {
		a, b = b, a
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// JaroWinkler returns the Jaro-Winkler similarity of a and b, between 0
// (nothing in common) and 1 (equal), with the usual prefix scale 0.1 over
// at most four characters. Two empty texts are equal.
func JaroWinkler(a, b []rune) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	window := max(len(a), len(b))/2 - 1
	window = max(window, 0)
	am := make([]bool, len(a))
	bm := make([]bool, len(b))
	matches := 0
	for i := range a {
		for j := max(0, i-window); j <= min(len(b)-1, i+window); j++ {
			if !bm[j] && a[i] == b[j] {
				am[i], bm[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	half, j := 0, 0
	for i := range a {
		if !am[i] {
			continue
		}
		for !bm[j] {
			j++
		}
		if a[i] != b[j] {
			half++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(len(a)) + m/float64(len(b)) + (m-float64(half)/2)/m) / 3
	prefix := 0
	for prefix < min(4, len(a), len(b)) && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}

// Main is the program: it compares LeftPath and RightPath below root and
// writes the Result to OutputPath below root, printing the lengths.
func Main(root string, stdout io.Writer) error {
	var texts [2][]rune
	for i, p := range []string{LeftPath, RightPath} {
		b, err := os.ReadFile(root + p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		if texts[i], err = Decode(b); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	a, b := texts[0], texts[1]
	res := Result{Levenshtein: Levenshtein(a, b), JaroWinkler: JaroWinkler(a, b), LeftRunes: len(a), RightRunes: len(b)}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+OutputPath, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "compared %d and %d characters\n", len(a), len(b))
	return err
}
