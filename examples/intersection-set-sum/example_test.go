package intersectionsetsum

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// reference sorts the viewers and looks each customer up by binary search,
// reading amounts as floating point rounded to cents: independent of the
// program's hash set and decimal parser.
func reference(t testing.TB, viewers, customers []byte) Result {
	t.Helper()
	vs := strings.Fields(string(viewers))
	sort.Strings(vs)
	var r Result
	for _, l := range strings.Fields(string(customers)) {
		id, amount, _ := strings.Cut(l, ",")
		f, err := strconv.ParseFloat(amount, 64)
		if err != nil {
			t.Fatal(err)
		}
		if i := sort.SearchStrings(vs, id); i < len(vs) && vs[i] == id {
			r.Customers++
			r.TotalCents += int64(math.Round(f * 100))
		}
	}
	cents := strconv.FormatInt(r.TotalCents, 10)
	for len(cents) < 3 {
		cents = "0" + cents
	}
	r.Total = cents[:len(cents)-2] + "." + cents[len(cents)-2:]
	return r
}

func check(t testing.TB, inputs map[string][]byte, out []byte) {
	t.Helper()
	var got Result
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	if want := reference(t, inputs[ViewersPath], inputs[CustomersPath]); got != want {
		t.Errorf("got %+v, reference %+v", got, want)
	}
	if got.Customers != NormalShared {
		t.Errorf("%d customers viewed the adverts, the generator made %d", got.Customers, NormalShared)
	}
}

// TestStory: the platform and the shop upload their lists; the shop runs
// the program; both read the total; neither reads the other's list.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "intersection-set-sum",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{ProgramPath: "w"}},
			{Name: "platform", Caps: map[string]string{ViewersPath: "w", OutputPath: "r"}},
			{Name: "shop", Caps: map[string]string{CustomersPath: "w", ProgramPath: "x", OutputPath: "r"}},
		},
		Programs: []story.Program{{Path: ProgramPath, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{ViewersPath: "r", CustomersPath: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "platform", ViewersPath, in[ViewersPath])
	s.Put(t, "shop", CustomersPath, in[CustomersPath])
	rr := s.Run(t, "shop", ProgramPath)
	if string(rr.Stdout) != "4000 viewers, 3000 customers\n" {
		t.Errorf("stdout %q", rr.Stdout)
	}
	check(t, in, s.Get(t, "shop", OutputPath))
	check(t, in, s.Get(t, "platform", OutputPath))
	s.CannotRead(t, "shop", ViewersPath)
	s.CannotRead(t, "platform", CustomersPath)
	s.CannotRun(t, "platform", ProgramPath)
	s.Shutdown(t, "shop")
}

func TestAllWays(t *testing.T) {
	kit.TestAllWays(t, Example(), func(t *testing.T, inputs, files map[string][]byte, stdout string) {
		check(t, inputs, files[OutputPath])
	})
}

func TestGenerateDeterministic(t *testing.T) {
	v1, c1 := Generate(10, 8, 3)
	v2, c2 := Generate(10, 8, 3)
	if !bytes.Equal(v1, v2) || !bytes.Equal(c1, c2) {
		t.Fatal("Generate is not deterministic")
	}
	vs, err := DecodeViewers(v1)
	if err != nil || len(vs) != 10 {
		t.Fatalf("%d viewers, %v", len(vs), err)
	}
	cs, err := DecodeCustomers(c1)
	if err != nil || len(cs) != 8 {
		t.Fatalf("%d customers, %v", len(cs), err)
	}
	if r, err := Sum(vs, cs); err != nil || r.Customers != 3 {
		t.Fatalf("%d shared (%v), want 3", r.Customers, err)
	}
}

func TestParseCents(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false}, {"12", 1200, false}, {"12.5", 1250, false}, {"12.05", 1205, false},
		{"0.99", 99, false}, {"10000000000", MaxCents, false},
		{"", 0, true}, {".5", 0, true}, {"5.", 0, true}, {"1.234", 0, true}, {"-1", 0, true},
		{"+1", 0, true}, {"1e3", 0, true}, {"10000000000.01", 0, true}, {"99999999999", 0, true}, {"1.-5", 0, true},
	} {
		got, err := ParseCents([]byte(tc.in))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseCents(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestDecode(t *testing.T) {
	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		name, viewers, customers string
		nv, nc                   int
		verr, cerr               error
	}{
		{"empty", "", "", 0, 0, nil, nil},
		{"no final newline", "a\nb", "a,1\nb,2.50", 2, 2, nil, nil},
		{"blank line", "a\n\nb\n", "a,1\n\n", 0, 0, ErrFormat, ErrFormat},
		{"bad characters", "a b\n", "a;1\n", 0, 0, ErrFormat, ErrFormat},
		{"too long", long + "\n", long + ",1\n", 0, 0, ErrFormat, ErrFormat},
		{"extra field", "a,b\n", "a,1,2\n", 0, 0, ErrFormat, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs, err := DecodeViewers([]byte(tc.viewers))
			if !errors.Is(err, tc.verr) || len(vs) != tc.nv {
				t.Errorf("DecodeViewers: %d, %v; want %d, %v", len(vs), err, tc.nv, tc.verr)
			}
			cs, err := DecodeCustomers([]byte(tc.customers))
			if !errors.Is(err, tc.cerr) || len(cs) != tc.nc {
				t.Errorf("DecodeCustomers: %d, %v; want %d, %v", len(cs), err, tc.nc, tc.cerr)
			}
		})
	}
}

func TestSum(t *testing.T) {
	got, err := Sum([]string{"a", "a", "c"}, []Customer{{"a", 150}, {"b", 1000}, {"a", 5}, {"c", 1}})
	if want := (Result{3, 156, "1.56"}); got != want || err != nil {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	big := []Customer{{"a", math.MaxInt64 - 5}, {"a", 6}}
	if _, err := Sum([]string{"a"}, big); !errors.Is(err, ErrOverflow) {
		t.Errorf("summing past 63 bits: %v, want %v", err, ErrOverflow)
	}
}

// FuzzDecode: the program's parsers never panic, and accepted inputs sum
// to the reference's result.
func FuzzDecode(f *testing.F) {
	v, c := Generate(5, 4, 2)
	f.Add(v, c)
	f.Add([]byte("a\n"), []byte("a,0.5\n"))
	f.Add([]byte(""), []byte("a,1.2.3\n"))
	f.Fuzz(func(t *testing.T, vb, cb []byte) {
		vs, err1 := DecodeViewers(vb)
		cs, err2 := DecodeCustomers(cb)
		if err1 != nil || err2 != nil {
			return
		}
		got, err := Sum(vs, cs)
		if err != nil {
			return
		}
		if want := reference(t, vb, cb); got != want {
			t.Fatalf("got %+v, reference %+v", got, want)
		}
	})
}
