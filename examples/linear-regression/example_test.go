package linearregression

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// reference fits the line from the normal equations over raw sums, a
// different formulation from the program's deviations from the means.
func reference(t testing.TB, in []byte) (gradient, intercept float64) {
	t.Helper()
	if len(in)%16 != 0 {
		t.Fatal("reference: bad input")
	}
	var n, sx, sy, sxx, sxy float64
	for i := 0; i < len(in); i += 16 {
		x := math.Float64frombits(leU64(in[i:]))
		y := math.Float64frombits(leU64(in[i+8:]))
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	gradient = (n*sxy - sx*sy) / (n*sxx - sx*sx)
	return gradient, (sy - gradient*sx) / n
}

func leU64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// checkResult compares the program's output with the reference.
func checkResult(t testing.TB, in, out []byte) {
	t.Helper()
	var got Result
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	g, c := reference(t, in)
	if !near(got.Gradient, g) || !near(got.Intercept, c) || got.Points != len(in)/16 {
		t.Errorf("got %+v, reference gradient %v intercept %v over %d points", got, g, c, len(in)/16)
	}
	if math.Abs(got.Gradient-TrueGradient) > 0.05 || math.Abs(got.Intercept-TrueIntercept) > 0.5 {
		t.Errorf("fitted line %+v is far from the generator's %v·x%+v", got, TrueGradient, TrueIntercept)
	}
}

// TestStory runs the example through the real system: the program owner
// uploads the program, the device its points, the analyst runs it and reads
// the line, which must match the native reference. Nobody reads what the
// policy does not grant.
func TestStory(t *testing.T) {
	ex := Example()
	prog := ex.Steps[0]
	s := story.Start(t, story.Spec{
		Name: "linear-regression",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{ProgramPath: "w"}},
			{Name: "device", Caps: map[string]string{InputPath: "w"}},
			{Name: "analyst", Caps: map[string]string{ProgramPath: "x", OutputPath: "r"}},
		},
		Programs: []story.Program{{Path: ProgramPath, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{InputPath: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)[InputPath]
	s.Put(t, "device", InputPath, in)
	rr := s.Run(t, "analyst", ProgramPath)
	if string(rr.Stdout) != "fitted 10000 points\n" {
		t.Errorf("stdout %q", rr.Stdout)
	}
	checkResult(t, in, s.Get(t, "analyst", OutputPath))
	s.CannotRead(t, "analyst", InputPath)
	s.CannotRead(t, "device", OutputPath)
	s.CannotRun(t, "device", ProgramPath)
	s.CannotWrite(t, "analyst", InputPath)
	s.Shutdown(t, "analyst")
}

func TestAllWays(t *testing.T) {
	kit.TestAllWays(t, Example(), func(t *testing.T, inputs, files map[string][]byte, stdout string) {
		checkResult(t, inputs[InputPath], files[OutputPath])
		if stdout != "fitted 10000 points\n" {
			t.Errorf("stdout %q", stdout)
		}
	})
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := Generate(100), Generate(100)
	if !bytes.Equal(a, b) || len(a) != 1600 {
		t.Fatal("Generate is not deterministic")
	}
	if _, err := Decode(a); err != nil {
		t.Fatal(err)
	}
}

func TestDecode(t *testing.T) {
	nan := Encode([]Point{{math.NaN(), 1}})
	inf := Encode([]Point{{1, math.Inf(-1)}})
	for _, tc := range []struct {
		name string
		in   []byte
		n    int
		err  error
	}{
		{"empty", nil, 0, nil},
		{"one", Encode([]Point{{1, 2}}), 1, nil},
		{"short", make([]byte, 15), 0, ErrFormat},
		{"odd", make([]byte, 24), 0, ErrFormat},
		{"nan", nan, 0, ErrFormat},
		{"inf", inf, 0, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := Decode(tc.in)
			if !errors.Is(err, tc.err) || len(pts) != tc.n {
				t.Errorf("Decode: %d points, %v; want %d, %v", len(pts), err, tc.n, tc.err)
			}
		})
	}
}

func TestFit(t *testing.T) {
	for _, tc := range []struct {
		name string
		pts  []Point
		want Result
		err  error
	}{
		{"none", nil, Result{}, ErrDegenerate},
		{"one", []Point{{1, 1}}, Result{}, ErrDegenerate},
		{"vertical", []Point{{1, 1}, {1, 2}}, Result{}, ErrDegenerate},
		{"exact", []Point{{0, 1}, {1, 3}, {2, 5}}, Result{2, 1, 3}, nil},
		{"flat", []Point{{0, 4}, {10, 4}}, Result{0, 4, 2}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Fit(tc.pts)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("Fit = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

// FuzzDecode: the program's parser never panics, and what it accepts
// re-encodes to the same bytes and fits without panicking.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(Generate(3))
	f.Add(make([]byte, 17))
	f.Add(Encode([]Point{{math.Inf(1), 0}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		pts, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(Encode(pts), b) {
			t.Fatal("Decode/Encode do not round-trip")
		}
		Fit(pts)
	})
}
