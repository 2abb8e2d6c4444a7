package psi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// reference intersects two sets by sorting both and merging, independently
// of the program's counting map, and encodes the result as the program
// should.
func reference(t testing.TB, a, b []byte) []byte {
	t.Helper()
	var x, y []Person
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	key := func(p Person) string {
		return fmt.Sprintf("%s\x00%s\x00%03d\x00%03d", p.EmployeeID, p.Name, p.Age, p.Grade)
	}
	sort.Slice(x, func(i, j int) bool { return key(x[i]) < key(x[j]) })
	sort.Slice(y, func(i, j int) bool { return key(y[i]) < key(y[j]) })
	out := []Person{}
	for i, j := 0, 0; i < len(x) && j < len(y); {
		switch kx, ky := key(x[i]), key(y[j]); {
		case kx < ky:
			i++
		case kx > ky:
			j++
		default:
			if len(out) == 0 || out[len(out)-1] != x[i] {
				out = append(out, x[i])
			}
			i++
			j++
		}
	}
	r, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return append(r, '\n')
}

func check(t testing.TB, inputs map[string][]byte, out []byte) {
	t.Helper()
	want := reference(t, inputs[SetPaths[0]], inputs[SetPaths[1]])
	if !bytes.Equal(out, want) {
		t.Errorf("intersection (%d bytes) differs from the reference (%d bytes)", len(out), len(want))
	}
	var got []Person
	if err := json.Unmarshal(out, &got); err != nil || len(got) != NormalShared {
		t.Errorf("%d people in the intersection (%v), want the %d generated", len(got), err, NormalShared)
	}
}

// TestStory: two companies upload their sets; each runs the program and
// reads the intersection; neither can read the other's set, nor replace it.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	owner := func(set string) map[string]string {
		return map[string]string{set: "w", ProgramPath: "x", OutputPath: "r"}
	}
	s := story.Start(t, story.Spec{
		Name: "private-set-intersection",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{ProgramPath: "w"}},
			{Name: "acme", Caps: owner(SetPaths[0])},
			{Name: "globex", Caps: owner(SetPaths[1])},
		},
		Programs: []story.Program{{Path: ProgramPath, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{InputDir: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "acme", SetPaths[0], in[SetPaths[0]])
	s.Put(t, "globex", SetPaths[1], in[SetPaths[1]])
	rr := s.Run(t, "globex", ProgramPath)
	if want := fmt.Sprintf("2 sets, %d people in all of them\n", NormalShared); string(rr.Stdout) != want {
		t.Errorf("stdout %q, want %q", rr.Stdout, want)
	}
	check(t, in, s.Get(t, "acme", OutputPath))
	check(t, in, s.Get(t, "globex", OutputPath))
	s.CannotRead(t, "acme", SetPaths[1])
	s.CannotRead(t, "globex", SetPaths[0])
	s.CannotWrite(t, "acme", SetPaths[1])
	s.CannotRead(t, "program-owner", OutputPath)
	s.Shutdown(t, "acme")
}

func TestAllWays(t *testing.T) {
	kit.TestAllWays(t, Example(), func(t *testing.T, inputs, files map[string][]byte, stdout string) {
		check(t, inputs, files[OutputPath])
	})
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := Generate(50, 5), Generate(50, 5)
	if len(a) != 2 || !bytes.Equal(a[0], b[0]) || !bytes.Equal(a[1], b[1]) {
		t.Fatal("Generate is not deterministic")
	}
	for _, s := range a {
		set, err := Decode(s)
		if err != nil || len(set) != 50 {
			t.Fatalf("generated set: %d people, %v", len(set), err)
		}
	}
}

func TestIntersect(t *testing.T) {
	p := func(id string) Person { return Person{Name: "n" + id, EmployeeID: id, Age: 30, Grade: 2} }
	older := p("b")
	older.Age = 31
	for _, tc := range []struct {
		name string
		sets [][]Person
		want []Person
	}{
		{"no sets", nil, []Person{}},
		{"one set", [][]Person{{p("b"), p("a")}}, []Person{p("a"), p("b")}},
		{"disjoint", [][]Person{{p("a")}, {p("b")}}, []Person{}},
		{"all fields must match", [][]Person{{p("b")}, {older}}, []Person{}},
		{"duplicates", [][]Person{{p("a"), p("a"), p("c")}, {p("a"), p("c")}}, []Person{p("a"), p("c")}},
		{"duplicate in one set only", [][]Person{{p("a"), p("a")}, {p("b")}, {p("a")}}, []Person{}},
		{"three", [][]Person{{p("a"), p("b"), p("c")}, {p("c"), p("b")}, {p("b"), p("d")}}, []Person{p("b")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Intersect(tc.sets)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	long := bytes.Repeat([]byte("x"), MaxFieldBytes+1)
	for _, tc := range []struct {
		name string
		in   string
		n    int
		err  error
	}{
		{"empty array", `[]`, 0, nil},
		{"one", `[{"name":"a","employee_id":"1","age":3,"grade":4}]`, 1, nil},
		{"empty input", ``, 0, ErrFormat},
		{"null", `null`, 0, ErrFormat},
		{"object", `{}`, 0, ErrFormat},
		{"unknown field", `[{"name":"a","salary":1}]`, 0, ErrFormat},
		{"age too big", `[{"age":256}]`, 0, ErrFormat},
		{"trailing", `[] []`, 0, ErrFormat},
		{"long name", `[{"name":"` + string(long) + `"}]`, 0, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Decode([]byte(tc.in))
			if !errors.Is(err, tc.err) || len(set) != tc.n {
				t.Errorf("Decode: %d people, %v; want %d, %v", len(set), err, tc.n, tc.err)
			}
		})
	}
}

// FuzzDecode: the program's parser never panics, and what it accepts
// intersects with itself to itself (deduplicated).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`[{"name":"a","employee_id":"1","age":3,"grade":4}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"name":1}]`))
	f.Add(Generate(3, 1)[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := Decode(b)
		if err != nil {
			return
		}
		self := Intersect([][]Person{set})
		if got := Intersect([][]Person{set, set}); fmt.Sprint(got) != fmt.Sprint(self) {
			t.Fatal("a set intersected with itself is not itself")
		}
	})
}
