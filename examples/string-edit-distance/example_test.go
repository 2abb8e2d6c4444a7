package editdistance

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// refLevenshtein fills the whole (len(a)+1)×(len(b)+1) table, column by
// column, independently of the program's two rows.
func refLevenshtein(a, b []rune) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := 0; j <= len(b); j++ {
		d[0][j] = j
	}
	for j := 1; j <= len(b); j++ {
		for i := 1; i <= len(a); i++ {
			sub := d[i-1][j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, sub)
		}
	}
	return d[len(a)][len(b)]
}

// refJaroWinkler computes the similarity from the lists of matched
// positions, independently of the program's flags.
func refJaroWinkler(a, b []rune) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	w := max(max(len(a), len(b))/2-1, 0)
	used := map[int]bool{}
	var ai, bi []int
	for i, c := range a {
		for j := i - w; j <= i+w; j++ {
			if j >= 0 && j < len(b) && !used[j] && b[j] == c {
				used[j] = true
				ai = append(ai, i)
				break
			}
		}
	}
	for j := range b {
		if used[j] {
			bi = append(bi, j)
		}
	}
	if len(ai) == 0 {
		return 0
	}
	t := 0.0
	for k := range ai {
		if a[ai[k]] != b[bi[k]] {
			t += 0.5
		}
	}
	m := float64(len(ai))
	jaro := (m/float64(len(a)) + m/float64(len(b)) + (m-t)/m) / 3
	l := 0
	for l < 4 && l < len(a) && l < len(b) && a[l] == b[l] {
		l++
	}
	return jaro + 0.1*float64(l)*(1-jaro)
}

func check(t testing.TB, inputs map[string][]byte, out []byte) {
	t.Helper()
	var got Result
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	a, b := []rune(string(inputs[LeftPath])), []rune(string(inputs[RightPath]))
	want := Result{Levenshtein: refLevenshtein(a, b), JaroWinkler: refJaroWinkler(a, b), LeftRunes: len(a), RightRunes: len(b)}
	if got.Levenshtein != want.Levenshtein || got.LeftRunes != want.LeftRunes || got.RightRunes != want.RightRunes ||
		math.Abs(got.JaroWinkler-want.JaroWinkler) > 1e-12 {
		t.Errorf("got %+v, reference %+v", got, want)
	}
	if got.Levenshtein < NormalRunes/20 || got.Levenshtein > NormalRunes/5 {
		t.Errorf("distance %d, the generator edits about one character in ten of %d", got.Levenshtein, NormalRunes)
	}
}

// TestStory: each party uploads its text; either may run the program; both
// read the distance; neither reads the other's text.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	party := func(text string) map[string]string {
		return map[string]string{text: "w", ProgramPath: "x", OutputPath: "r"}
	}
	s := story.Start(t, story.Spec{
		Name: "string-edit-distance",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{ProgramPath: "w"}},
			{Name: "left", Caps: party(LeftPath)},
			{Name: "right", Caps: party(RightPath)},
		},
		Programs: []story.Program{{Path: ProgramPath, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{LeftPath: "r", RightPath: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "left", LeftPath, in[LeftPath])
	s.Put(t, "right", RightPath, in[RightPath])
	s.Run(t, "left", ProgramPath)
	check(t, in, s.Get(t, "right", OutputPath))
	check(t, in, s.Get(t, "left", OutputPath))
	s.CannotRead(t, "left", RightPath)
	s.CannotRead(t, "right", LeftPath)
	s.CannotWrite(t, "right", LeftPath)
	s.Shutdown(t, "right")
}

func TestAllWays(t *testing.T) {
	kit.TestAllWays(t, Example(), func(t *testing.T, inputs, files map[string][]byte, stdout string) {
		check(t, inputs, files[OutputPath])
	})
}

func TestGenerateDeterministic(t *testing.T) {
	a1, b1 := Generate(100)
	a2, b2 := Generate(100)
	if !bytes.Equal(a1, a2) || !bytes.Equal(b1, b2) || bytes.Equal(a1, b1) {
		t.Fatal("Generate is not deterministic, or did not mutate")
	}
}

// TestKnownValues checks both measures on textbook pairs.
func TestKnownValues(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		lev  int
		jw   float64
	}{
		{"", "", 0, 1},
		{"abc", "", 3, 0},
		{"kitten", "sitting", 3, 0.746},
		{"MARTHA", "MARHTA", 2, 0.961},
		{"DWAYNE", "DUANE", 2, 0.840},
		{"DIXON", "DICKSONX", 4, 0.813},
		{"abc", "xyz", 3, 0},
		{"héllo", "hello", 1, 0.88},
		{"same", "same", 0, 1},
	} {
		a, b := []rune(tc.a), []rune(tc.b)
		if got := Levenshtein(a, b); got != tc.lev {
			t.Errorf("Levenshtein(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.lev)
		}
		if got := JaroWinkler(a, b); math.Abs(got-tc.jw) > 0.0005 {
			t.Errorf("JaroWinkler(%q, %q) = %.4f, want %.3f", tc.a, tc.b, got, tc.jw)
		}
		if JaroWinkler(a, b) != JaroWinkler(b, a) || Levenshtein(a, b) != Levenshtein(b, a) {
			t.Errorf("%q, %q: not symmetric", tc.a, tc.b)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		n    int
		err  error
	}{
		{"empty", nil, 0, nil},
		{"utf-8", []byte("héllo λ"), 7, nil},
		{"invalid", []byte{0xff, 'a'}, 0, ErrFormat},
		{"longest", []byte(strings.Repeat("é", MaxRunes)), MaxRunes, nil},
		{"too long", []byte(strings.Repeat("a", MaxRunes+1)), 0, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Decode(tc.in)
			if !errors.Is(err, tc.err) || len(r) != tc.n {
				t.Errorf("Decode: %d runes, %v; want %d, %v", len(r), err, tc.n, tc.err)
			}
		})
	}
}

// FuzzCompare: the parser never panics, and both measures agree with the
// references on any pair of short texts.
func FuzzCompare(f *testing.F) {
	f.Add([]byte("kitten"), []byte("sitting"))
	f.Add([]byte(""), []byte("a"))
	f.Add([]byte{0xff}, []byte("x"))
	f.Add([]byte("aab"), []byte("aba"))
	f.Fuzz(func(t *testing.T, x, y []byte) {
		if len(x) > 300 || len(y) > 300 {
			return
		}
		a, err1 := Decode(x)
		b, err2 := Decode(y)
		if err1 != nil || err2 != nil {
			return
		}
		if got, want := Levenshtein(a, b), refLevenshtein(a, b); got != want {
			t.Fatalf("Levenshtein %d, reference %d", got, want)
		}
		if got, want := JaroWinkler(a, b), refJaroWinkler(a, b); math.Abs(got-want) > 1e-12 || got < 0 || got > 1 {
			t.Fatalf("JaroWinkler %v, reference %v", got, want)
		}
	})
}
