package psisum

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sort"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// reference sorts the viewers' identifiers and looks each customer up by
// binary search, independently of the program's hash set.
func reference(data, sample []byte) Result {
	key := func(b []byte) string { return string(b[:16]) }
	var ids []string
	for i := 0; i+16 <= len(sample); i += 16 {
		ids = append(ids, key(sample[i:]))
	}
	sort.Strings(ids)
	var r Result
	for i := 0; i+20 <= len(data); i += 20 {
		k := key(data[i:])
		if j := sort.SearchStrings(ids, k); j < len(ids) && ids[j] == k {
			r.Count++
			r.Sum += uint64(binary.LittleEndian.Uint32(data[i+16:]))
		}
	}
	return r
}

func check(t testing.TB, inputs map[string][]byte, out []byte) {
	t.Helper()
	var got Result
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	want := reference(inputs[DataPath], inputs[SamplePath])
	if got != want {
		t.Errorf("got %+v, reference %+v", got, want)
	}
	if got.Count < NormalShared/2 || got.Count > NormalShared {
		t.Errorf("count %d, the generator shared about %d", got.Count, NormalShared)
	}
}

// TestStory: the shop and the advertiser upload their files; the
// advertiser runs the program; both read the count and sum; neither reads
// the other's file.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "private-set-intersection-sum",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{ProgramPath: "w"}},
			{Name: "shop", Caps: map[string]string{DataPath: "w", OutputPath: "r"}},
			{Name: "advertiser", Caps: map[string]string{SamplePath: "w", ProgramPath: "x", OutputPath: "r"}},
		},
		Programs: []story.Program{{Path: ProgramPath, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{DataPath: "r", SamplePath: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "shop", DataPath, in[DataPath])
	s.Put(t, "advertiser", SamplePath, in[SamplePath])
	rr := s.Run(t, "advertiser", ProgramPath)
	if string(rr.Stdout) != "5000 customers, 3000 viewers\n" {
		t.Errorf("stdout %q", rr.Stdout)
	}
	check(t, in, s.Get(t, "advertiser", OutputPath))
	check(t, in, s.Get(t, "shop", OutputPath))
	s.CannotRead(t, "shop", SamplePath)
	s.CannotRead(t, "advertiser", DataPath)
	s.CannotRun(t, "shop", ProgramPath)
	s.Shutdown(t, "advertiser")
}

func TestAllWays(t *testing.T) {
	kit.TestAllWays(t, Example(), func(t *testing.T, inputs, files map[string][]byte, stdout string) {
		check(t, inputs, files[OutputPath])
	})
}

func TestGenerateDeterministic(t *testing.T) {
	d1, s1 := Generate(10, 5, 2)
	d2, s2 := Generate(10, 5, 2)
	if !bytes.Equal(d1, d2) || !bytes.Equal(s1, s2) || len(d1) != 200 || len(s1) != 80 {
		t.Fatal("Generate is not deterministic")
	}
}

func TestIntersectionSum(t *testing.T) {
	a, b, c := ID{1, 2}, ID{2, 1}, ID{0, 0}
	for _, tc := range []struct {
		name   string
		data   []Entry
		sample []ID
		want   Result
	}{
		{"empty", nil, nil, Result{}},
		{"no sample", []Entry{{a, 5}}, nil, Result{}},
		{"halves of an id differ", []Entry{{a, 5}}, []ID{b}, Result{}},
		{"one", []Entry{{a, 5}, {b, 7}}, []ID{b, c}, Result{1, 7}},
		{"customer twice", []Entry{{a, 5}, {a, 6}}, []ID{a}, Result{2, 11}},
		{"viewer twice", []Entry{{a, 5}}, []ID{a, a}, Result{1, 5}},
		{"big values", []Entry{{a, 1<<32 - 1}, {b, 1<<32 - 1}}, []ID{a, b}, Result{2, 2 * (1<<32 - 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IntersectionSum(tc.data, tc.sample); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     int
		sample   int
		dataErr  error
		sampleEr error
	}{
		{"empty", 0, 0, nil, nil},
		{"whole", 40, 32, nil, nil},
		{"partial", 21, 17, ErrFormat, ErrFormat},
		{"swapped sizes", 16, 20, ErrFormat, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeData(make([]byte, tc.data)); !errors.Is(err, tc.dataErr) {
				t.Errorf("DecodeData: %v, want %v", err, tc.dataErr)
			}
			if _, err := DecodeSample(make([]byte, tc.sample)); !errors.Is(err, tc.sampleEr) {
				t.Errorf("DecodeSample: %v, want %v", err, tc.sampleEr)
			}
		})
	}
}

// FuzzDecode: the program's parsers never panic, accepted input
// round-trips, and the result agrees with the reference.
func FuzzDecode(f *testing.F) {
	d, s := Generate(4, 3, 2)
	f.Add(d, s)
	f.Add([]byte{}, []byte{})
	f.Add(make([]byte, 21), make([]byte, 15))
	f.Fuzz(func(t *testing.T, db, sb []byte) {
		data, err1 := DecodeData(db)
		sample, err2 := DecodeSample(sb)
		if err1 != nil || err2 != nil {
			return
		}
		if !bytes.Equal(EncodeData(data), db) || !bytes.Equal(EncodeSample(sample), sb) {
			t.Fatal("decode/encode do not round-trip")
		}
		if got, want := IntersectionSum(data, sample), reference(db, sb); got != want {
			t.Fatalf("got %+v, reference %+v", got, want)
		}
	})
}
