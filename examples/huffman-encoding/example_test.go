package huffman

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
)

// optimalBits is the length in bits of an optimal prefix code of text,
// computed independently of the program: the sum of the weights of all
// merges of the two-queue Huffman construction.
func optimalBits(text []byte) int {
	var freq [256]int
	for _, c := range text {
		freq[c]++
	}
	var leaves []int
	for _, f := range freq {
		if f > 0 {
			leaves = append(leaves, f)
		}
	}
	if len(leaves) == 1 {
		return leaves[0]
	}
	sort.Ints(leaves)
	var merged []int
	pop := func() int {
		if len(merged) == 0 || (len(leaves) > 0 && leaves[0] <= merged[0]) {
			x := leaves[0]
			leaves = leaves[1:]
			return x
		}
		x := merged[0]
		merged = merged[1:]
		return x
	}
	total := 0
	for len(leaves)+len(merged) > 1 {
		w := pop() + pop()
		total += w
		merged = append(merged, w)
	}
	return total
}

// referenceDecode decodes enc bit by bit with the canonical code rebuilt
// from the lengths by the textbook algorithm (counts per length, first
// code per length), independently of the program's code.
func referenceDecode(enc []byte) ([]byte, error) {
	if len(enc) < 4+256+8 || string(enc[:4]) != "TRHF" {
		return nil, fmt.Errorf("bad header")
	}
	lens := enc[4:260]
	size := binary.LittleEndian.Uint64(enc[260:268])
	var count [65]int
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	var first [65]int
	c := 0
	for l := 1; l <= 64; l++ {
		c = (c + count[l-1]) << 1
		first[l] = c
	}
	// Symbols in canonical order.
	var syms []int
	for l := 1; l <= 64; l++ {
		for s := 0; s < 256; s++ {
			if int(lens[s]) == l {
				syms = append(syms, s)
			}
		}
	}
	var out []byte
	bit := 0
	for uint64(len(out)) < size {
		code, l, index := 0, 0, 0
		for {
			if bit >= (len(enc)-268)*8 {
				return nil, fmt.Errorf("out of bits")
			}
			code = code<<1 | int(enc[268+bit/8]>>(7-bit%8)&1)
			bit++
			l++
			if code-first[l] < count[l] {
				out = append(out, byte(syms[index+code-first[l]]))
				break
			}
			index += count[l]
			if l == 64 {
				return nil, fmt.Errorf("no code")
			}
		}
	}
	return out, nil
}

func check(t *testing.T, inputs, files map[string][]byte, stdout string) {
	t.Helper()
	text, enc := inputs[TextPath], files[OutputPath]
	dec, err := referenceDecode(enc)
	if err != nil || !bytes.Equal(dec, text) {
		t.Fatalf("the encoded file does not decode to the text: %v", err)
	}
	bits := optimalBits(text)
	if want := HeaderLen + (bits+7)/8; len(enc) != want {
		t.Errorf("encoded into %d bytes, an optimal code takes %d", len(enc), want)
	}
	if want := fmt.Sprintf("encoded %d bytes into %d\n", len(text), len(enc)); stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
}

func TestAllWays(t *testing.T) { kit.TestAllWays(t, Example(), check) }

func TestRoundTrip(t *testing.T) {
	for _, text := range []string{"", "a", "aaaa", "ab", "abracadabra", string(GenerateText(5000)), string([]byte{0, 255, 0, 0, 7})} {
		enc, err := Encode([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		for name, dec := range map[string]func([]byte) ([]byte, error){"Decode": Decode, "reference": referenceDecode} {
			got, err := dec(enc)
			if err != nil || string(got) != text {
				t.Errorf("%s(Encode(%.20q)) = %.20q, %v", name, text, got, err)
			}
		}
		if want := HeaderLen + (optimalBits([]byte(text))+7)/8; text != "" && len(enc) != want {
			t.Errorf("Encode(%.20q): %d bytes, want %d", text, len(enc), want)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := Encode([]byte("hello, world"))
	tooMany := bytes.Clone(good)
	for i := range 256 {
		tooMany[4+i] = 1 // 256 codes of one bit
	}
	long := bytes.Clone(good)
	binary.LittleEndian.PutUint64(long[260:], 1<<40)
	for name, b := range map[string][]byte{
		"empty": nil, "magic": append([]byte("XXXX"), good[4:]...), "short": good[:HeaderLen-1],
		"kraft": tooMany, "length": long, "truncated": good[:HeaderLen+1],
	} {
		if _, err := Decode(b); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Decode err = %v, want ErrFormat", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "a", "abracadabra"} {
		enc, _ := Encode([]byte(s))
		f.Add(enc)
	}
	f.Add([]byte("TRHF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Decode(b)
		if err == nil && uint64(len(out)) != binary.LittleEndian.Uint64(b[260:268]) {
			t.Fatal("decoded length differs from the header's")
		}
	})
}
