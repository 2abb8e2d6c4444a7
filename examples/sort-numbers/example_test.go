package sortnumbers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sort"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
)

// reference sorts the numbers with the standard library's sort.Slice,
// independently of the program's code.
func reference(in []byte) []byte {
	v := make([]int64, len(in)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(in[8*i:]))
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	out := make([]byte, len(in))
	for i, x := range v {
		binary.LittleEndian.PutUint64(out[8*i:], uint64(x))
	}
	return out
}

func check(t *testing.T, inputs, files map[string][]byte, stdout string) {
	t.Helper()
	want := reference(inputs[InputPath])
	if !bytes.Equal(files[OutputPath], want) {
		t.Errorf("%s: %d bytes differ from the reference's %d", OutputPath, len(files[OutputPath]), len(want))
	}
	if stdout != "sorted 20000 numbers\n" {
		t.Errorf("stdout %q", stdout)
	}
}

func TestAllWays(t *testing.T) { kit.TestAllWays(t, Example(), check) }

func TestGenerateDeterministic(t *testing.T) {
	a, b := Generate(100), Generate(100)
	if !bytes.Equal(a, b) || len(a) != 800 {
		t.Fatal("Generate is not deterministic")
	}
	if bytes.Equal(reference(a), a) {
		t.Fatal("generated numbers are already sorted")
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		n    int
		fail bool
	}{
		{nil, 0, false}, {make([]byte, 8), 1, false}, {make([]byte, 7), 0, true}, {make([]byte, 17), 0, true},
	} {
		v, err := Decode(tc.in)
		if tc.fail != (err != nil) || (err != nil && !errors.Is(err, ErrFormat)) || len(v) != tc.n {
			t.Errorf("Decode(%d bytes) = %d, %v", len(tc.in), len(v), err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(Generate(3))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decode(b)
		if err == nil && !bytes.Equal(Encode(v), b) {
			t.Fatal("Encode(Decode(b)) != b")
		}
	})
}
