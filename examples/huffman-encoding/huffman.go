// Package huffman is the huffman-encoding example: a data owner uploads a
// text, the program (whose owner need not show its code to anyone but the
// enclave) compresses it with a canonical Huffman code built for that text,
// and the data owner reads the compressed file back. Nobody else reads the
// text or the result.
//
// The encoded format is: the magic "TRHF", 256 code lengths in bits (one
// byte per byte value, 0 for an absent value), the text's length as a
// little-endian uint64, then the codes of the text's bytes, most
// significant bit first, the last byte padded with zero bits. Codes are
// canonical: ordered by (length, byte value), each the previous plus one,
// shifted left when the length grows.
//
// Decode parses untrusted bytes: it must never panic and never allocate
// more than the encoded file can describe.
package huffman

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
)

// The guest paths of the example's files.
const (
	TextPath   = "/input/text.txt"
	OutputPath = "/output/encoded.huf"
)

// Sizes of the generated text, in bytes.
const (
	NormalBytes = 64 << 10
	LargeBytes  = 4 << 20
)

// Magic starts every encoded file.
const Magic = "TRHF"

// HeaderLen is the length of the encoded file's header.
const HeaderLen = len(Magic) + 256 + 8

// ErrFormat is returned by Decode for bytes that are not an encoded file.
var ErrFormat = errors.New("not a Huffman-encoded file")

// GenerateText returns size bytes of text whose letters follow a skewed
// distribution, from a fixed seed: the same size always gives the same
// bytes.
func GenerateText(size int) []byte {
	const alphabet = " etaoinshrdlcumwfgypbvkjxqz.,\nETAOIN"
	r := rand.New(rand.NewPCG(3, 0x4f0ff))
	out := make([]byte, size)
	for i := range out {
		// Geometric-ish choice: low indexes are far more likely.
		k := 0
		for k < len(alphabet)-1 && r.IntN(100) < 78 {
			k++
		}
		out[i] = alphabet[k]
	}
	return out
}

// Inputs returns the data owner's file for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n := NormalBytes
	if large {
		n = LargeBytes
	}
	return map[string][]byte{TextPath: GenerateText(n)}
}

type node struct {
	weight int
	order  int // tie-breaker: leaves by byte value, then inner nodes by creation
	sym    int // byte value for a leaf, -1 for an inner node
	kids   [2]*node
}

type nodeHeap []*node

func (h nodeHeap) Len() int { return len(h) }
func (h nodeHeap) Less(i, j int) bool {
	if h[i].weight != h[j].weight {
		return h[i].weight < h[j].weight
	}
	return h[i].order < h[j].order
}
func (h nodeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)   { *h = append(*h, x.(*node)) }
func (h *nodeHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	*h = old[:len(old)-1]
	return n
}

// Lengths returns the Huffman code length of every byte value for a text
// with these byte counts (0 for an absent value; 1 when only one value
// occurs).
func Lengths(freq *[256]int) [256]uint8 {
	var h nodeHeap
	for s, f := range freq {
		if f > 0 {
			h = append(h, &node{weight: f, order: s, sym: s})
		}
	}
	var lens [256]uint8
	if len(h) == 1 {
		lens[h[0].sym] = 1
		return lens
	}
	heap.Init(&h)
	order := 256
	for h.Len() > 1 {
		a := heap.Pop(&h).(*node)
		b := heap.Pop(&h).(*node)
		heap.Push(&h, &node{weight: a.weight + b.weight, order: order, sym: -1, kids: [2]*node{a, b}})
		order++
	}
	if h.Len() == 1 {
		var walk func(n *node, depth uint8)
		walk = func(n *node, depth uint8) {
			if n.sym >= 0 {
				lens[n.sym] = depth
				return
			}
			walk(n.kids[0], depth+1)
			walk(n.kids[1], depth+1)
		}
		walk(h[0], 0)
	}
	return lens
}

// code is one canonical code: its bits, right-aligned, and length.
type code struct {
	bits uint64
	len  uint8
}

// canonical assigns canonical codes to the lengths. It fails when the
// lengths do not describe a prefix code that fits 64 bits.
func canonical(lens *[256]uint8) ([256]code, error) {
	var codes [256]code
	syms := make([]int, 0, 256)
	for s, l := range lens {
		if l > 0 {
			if l > 64 {
				return codes, fmt.Errorf("code length %d: %w", l, ErrFormat)
			}
			syms = append(syms, s)
		}
	}
	sort.SliceStable(syms, func(i, j int) bool { return lens[syms[i]] < lens[syms[j]] })
	var next uint64
	var prev uint8
	for i, s := range syms {
		l := lens[s]
		if i > 0 {
			next++
			if next == 0 || (prev < 64 && next>>prev != 0) {
				return codes, fmt.Errorf("code lengths overflow: %w", ErrFormat)
			}
		}
		next <<= l - prev
		prev = l
		codes[s] = code{bits: next, len: l}
	}
	return codes, nil
}

// Encode compresses text. It fails only for a text too long for its codes
// to fit 64 bits (many terabytes).
func Encode(text []byte) ([]byte, error) {
	var freq [256]int
	for _, c := range text {
		freq[c]++
	}
	lens := Lengths(&freq)
	codes, err := canonical(&lens)
	if err != nil {
		return nil, fmt.Errorf("building the code: %w", err)
	}
	var out bytes.Buffer
	out.WriteString(Magic)
	out.Write(lens[:])
	binary.Write(&out, binary.LittleEndian, uint64(len(text)))
	var acc uint64
	var n uint
	for _, c := range text {
		cd := codes[c]
		for i := int(cd.len) - 1; i >= 0; i-- {
			acc = acc<<1 | (cd.bits>>uint(i))&1
			n++
			if n == 8 {
				out.WriteByte(byte(acc))
				acc, n = 0, 0
			}
		}
	}
	if n > 0 {
		out.WriteByte(byte(acc << (8 - n)))
	}
	return out.Bytes(), nil
}

// Decode is the inverse of Encode. It returns an error wrapping ErrFormat
// for anything else.
func Decode(enc []byte) ([]byte, error) {
	if len(enc) < HeaderLen || string(enc[:len(Magic)]) != Magic {
		return nil, ErrFormat
	}
	var lens [256]uint8
	copy(lens[:], enc[len(Magic):])
	size := binary.LittleEndian.Uint64(enc[len(Magic)+256:])
	bits := enc[HeaderLen:]
	codes, err := canonical(&lens)
	if err != nil {
		return nil, err
	}
	type key struct {
		bits uint64
		len  uint8
	}
	table := map[key]byte{}
	for s, c := range codes {
		if c.len > 0 {
			table[key(c)] = byte(s)
		}
	}
	if size > 0 && len(table) == 0 {
		return nil, fmt.Errorf("a non-empty text with no codes: %w", ErrFormat)
	}
	// Every symbol takes at least one bit.
	if size > uint64(len(bits))*8 {
		return nil, fmt.Errorf("length %d exceeds the %d bits: %w", size, len(bits)*8, ErrFormat)
	}
	out := make([]byte, 0, size)
	var cur key
	for i := 0; uint64(len(out)) < size; i++ {
		if i >= len(bits)*8 {
			return nil, fmt.Errorf("bits end before the text does: %w", ErrFormat)
		}
		cur.bits = cur.bits<<1 | uint64(bits[i/8]>>(7-uint(i%8)))&1
		cur.len++
		if s, ok := table[cur]; ok {
			out = append(out, s)
			cur = key{}
		} else if cur.len >= 64 {
			return nil, fmt.Errorf("no code matches: %w", ErrFormat)
		}
	}
	return out, nil
}

// Main is the program: it compresses TextPath below root into OutputPath
// below root and prints the sizes.
func Main(root string, stdout io.Writer) error {
	text, err := os.ReadFile(root + TextPath)
	if err != nil {
		return fmt.Errorf("reading the text: %w", err)
	}
	enc, err := Encode(text)
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+OutputPath, enc, 0o644); err != nil {
		return fmt.Errorf("writing the encoded text: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "encoded %d bytes into %d\n", len(text), len(enc))
	return err
}
