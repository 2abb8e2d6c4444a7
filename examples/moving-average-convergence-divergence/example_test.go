package macd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// refWMA divides integer-weighted sums by the weights' total, where the
// program multiplies by precomputed fractional weights.
func refWMA(x []float64, w, i int) float64 {
	s := 0.0
	for k := 0; k < w; k++ {
		s += float64(k+1) * x[i+k]
	}
	return s / float64(w*(w+1)/2)
}

// reference computes the histogram, crossovers and decisions, indexing
// every average by the price it ends at.
func reference(prices []float64) (hist, dec []float64, crossovers int) {
	n := len(prices)
	line := map[int]float64{} // by the index of the price it ends at
	for e := 25; e < n; e++ {
		line[e] = refWMA(prices, 12, e-11) - refWMA(prices, 26, e-25)
	}
	lineSlice := make([]float64, 0, n-25)
	for e := 25; e < n; e++ {
		lineSlice = append(lineSlice, line[e])
	}
	for e := 33; e < n; e++ {
		hist = append(hist, line[e]-refWMA(lineSlice, 9, e-33))
	}
	for i := 1; i < len(hist); i++ {
		a, b := hist[i-1], hist[i]
		if (a < 0) != (b < 0) && a != 0 && b != 0 {
			crossovers++
		}
		x := (a / 2) * (b / 2)
		poly := 0.0
		for _, c := range []float64{-0.0001, 0.0003, 0.0025, -0.009, -0.0253, 0.0984, 0.0882, -0.5173, 0.4475, -0.0753} {
			poly = poly*x + c // Horner's rule, highest power first
		}
		dec = append(dec, poly*(a/2-b/2))
	}
	return hist, dec, crossovers
}

func floats(t testing.TB, b []byte) []float64 {
	t.Helper()
	if len(b)%8 != 0 {
		t.Fatalf("%d bytes: not float64s", len(b))
	}
	v := make([]float64, len(b)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}

func near(t testing.TB, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, reference %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %v, reference %v", what, i, got[i], want[i])
		}
	}
}

func check(t testing.TB, in []byte, hist, dec []byte, stdout string) {
	t.Helper()
	prices := floats(t, in)
	h, d, c := reference(prices)
	near(t, "histogram", floats(t, hist), h)
	near(t, "decisions", floats(t, dec), d)
	if want := fmt.Sprintf("%d prices, %d crossovers\n", len(prices), c); stdout != want {
		t.Errorf("stdout %q, reference %q", stdout, want)
	}
	if c < 20 {
		t.Errorf("only %d crossovers in %d prices: the generator should cycle", c, len(prices))
	}
}

// TestStory: the trader uploads prices; the analyst runs the program and
// reads the indicator; neither the analyst nor the program owner can read
// the prices.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "moving-average-convergence-divergence",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{ProgramPath: "w"}},
			{Name: "trader", Caps: map[string]string{PricesPath: "w"}},
			{Name: "analyst", Caps: map[string]string{ProgramPath: "x", "/output/macd/": "r"}},
		},
		Programs: []story.Program{{Path: ProgramPath, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{PricesPath: "r", "/output/macd/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)[PricesPath]
	s.Put(t, "trader", PricesPath, in)
	rr := s.Run(t, "analyst", ProgramPath)
	check(t, in, s.Get(t, "analyst", HistogramPath), s.Get(t, "analyst", DecisionsPath), string(rr.Stdout))
	s.CannotRead(t, "analyst", PricesPath)
	s.CannotRead(t, "program-owner", PricesPath)
	s.CannotRead(t, "trader", HistogramPath)
	s.Shutdown(t, "analyst")
}

func TestAllWays(t *testing.T) {
	kit.TestAllWays(t, Example(), func(t *testing.T, inputs, files map[string][]byte, stdout string) {
		check(t, inputs[PricesPath], files[HistogramPath], files[DecisionsPath], stdout)
	})
}

func TestGenerateDeterministic(t *testing.T) {
	if a, b := Generate(100), Generate(100); !bytes.Equal(a, b) || len(a) != 800 {
		t.Fatal("Generate is not deterministic")
	}
}

func TestWMA(t *testing.T) {
	got := WMA([]float64{1, 2, 3, 4}, 3)
	want := []float64{(1 + 4 + 9) / 6.0, (2 + 6 + 12) / 6.0}
	if len(got) != 2 || math.Abs(got[0]-want[0]) > 1e-15 || math.Abs(got[1]-want[1]) > 1e-15 {
		t.Errorf("WMA = %v, want %v", got, want)
	}
	if WMA([]float64{1}, 2) != nil {
		t.Error("WMA of a too short series is not empty")
	}
}

// TestCompute: a constant series has a zero histogram and no crossovers,
// and the shortest series gives exactly one decision.
func TestCompute(t *testing.T) {
	flat := make([]float64, MinPrices)
	for i := range flat {
		flat[i] = 42
	}
	r := Compute(flat)
	if len(r.Histogram) != 2 || len(r.Decisions) != 1 || r.Crossovers != 0 {
		t.Fatalf("got %d histogram values, %d decisions, %d crossovers", len(r.Histogram), len(r.Decisions), r.Crossovers)
	}
	for _, h := range r.Histogram {
		if math.Abs(h) > 1e-12 {
			t.Errorf("histogram of a constant series: %v", r.Histogram)
		}
	}
}

func TestDecode(t *testing.T) {
	ok := Generate(MinPrices)
	bad := func(v float64) []byte {
		b := bytes.Clone(ok)
		binary.LittleEndian.PutUint64(b[8:], math.Float64bits(v))
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		err  error
	}{
		{"shortest", ok, nil},
		{"too short", ok[:8*(MinPrices-1)], ErrFormat},
		{"partial", ok[:len(ok)-1], ErrFormat},
		{"zero", bad(0), ErrFormat},
		{"negative", bad(-1), ErrFormat},
		{"nan", bad(math.NaN()), ErrFormat},
		{"infinite", bad(math.Inf(1)), ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.in); !errors.Is(err, tc.err) {
				t.Errorf("Decode: %v, want %v", err, tc.err)
			}
		})
	}
}

// FuzzCompute: the parser never panics, and accepted series give outputs
// of the right lengths that agree with the reference's crossovers.
func FuzzCompute(f *testing.F) {
	f.Add(Generate(MinPrices))
	f.Add(Generate(60))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		prices, err := Decode(b)
		if err != nil {
			return
		}
		r := Compute(prices)
		if len(r.Histogram) != len(prices)-33 || len(r.Decisions) != len(prices)-34 {
			t.Fatalf("%d prices: %d histogram values, %d decisions", len(prices), len(r.Histogram), len(r.Decisions))
		}
	})
}
