// Package stringsearch is the string-search example: one party (the author)
// uploads a document, another (the searcher) uploads the phrases it looks
// for, and the program counts, for every phrase, its occurrences in the
// document (overlapping ones included) and the byte offset of the first.
// The searcher reads the counts; the author never sees the phrases, and the
// searcher never sees the document. The program exists in Go (./program)
// and in C (./program-c), reading and writing the same files.
//
// The program must never write any part of the document to its output.
package stringsearch

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
)

// The guest paths of the example's files.
const (
	TextPath     = "/input/text.txt"
	PatternsPath = "/input/patterns.txt"
	OutputPath   = "/output/matches.txt"
)

// Sizes of the generated document, in bytes (about).
const (
	NormalBytes = 64 << 10
	LargeBytes  = 4 << 20
)

var words = strings.Fields(`the a of and to in enclave policy data owner reader
program attestation banana bandana measurement certificate secret share
compute result sandbox memory file capability receipt host runtime trust
proof quote report nonce key signature hash audit log`)

// Patterns are the searcher's phrases: some present, some absent, some
// that overlap themselves ("ana" in "banana").
var Patterns = []string{"enclave", "banana", "ana", "data owner", "the secret", "zyzzyva", "receipt", "a", "trust no one", "hash"}

// GenerateText returns about size bytes of text drawn from a small
// vocabulary with a fixed seed: the same size always gives the same bytes.
func GenerateText(size int) []byte {
	r := rand.New(rand.NewPCG(11, 0x5ea4c4))
	var b bytes.Buffer
	for n := 0; b.Len() < size; n++ {
		b.WriteString(words[r.IntN(len(words))])
		if n%12 == 11 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()
}

// Inputs returns the two parties' files for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n := NormalBytes
	if large {
		n = LargeBytes
	}
	return map[string][]byte{
		TextPath:     GenerateText(n),
		PatternsPath: []byte(strings.Join(Patterns, "\n") + "\n"),
	}
}

// Search returns the number of occurrences of pattern in text, overlapping
// ones included, and the offset of the first (-1 if none). An empty pattern
// has no occurrences.
func Search(text, pattern []byte) (count, first int) {
	first = -1
	if len(pattern) == 0 {
		return 0, -1
	}
	for off := 0; ; {
		i := bytes.Index(text[off:], pattern)
		if i < 0 {
			return count, first
		}
		if first < 0 {
			first = off + i
		}
		count++
		off += i + 1
	}
}

// Main is the program: for every non-empty line of PatternsPath below root
// it writes "COUNT\tFIRST\tPATTERN\n" to OutputPath below root, and prints
// how many phrases it searched for.
func Main(root string, stdout io.Writer) error {
	text, err := os.ReadFile(root + TextPath)
	if err != nil {
		return fmt.Errorf("reading the document: %w", err)
	}
	pats, err := os.ReadFile(root + PatternsPath)
	if err != nil {
		return fmt.Errorf("reading the phrases: %w", err)
	}
	var out bytes.Buffer
	n := 0
	for line := range bytes.SplitSeq(pats, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		count, first := Search(text, line)
		fmt.Fprintf(&out, "%d\t%d\t%s\n", count, first, line)
		n++
	}
	if err := os.WriteFile(root+OutputPath, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing the matches: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "searched for %d phrases in %d bytes\n", n, len(text))
	return err
}
