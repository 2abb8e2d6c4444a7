// Package macd is the moving-average-convergence-divergence example: a
// trader uploads a private price series, the program computes its MACD
// indicator in the enclave, and the analyst reads the indicator and its
// buy/sell signals, never the prices. (Veracruz used this computation to
// compare itself with homomorphic encryption, after the HETSA work.)
//
// With weighted moving averages (WMA, weights 1..w): the MACD line is
// WMA12 − WMA26 of the prices, the signal line WMA9 of the MACD line, and
// the histogram MACD − signal. A crossover is where the histogram changes
// sign; the smooth decision of each step is Veracruz's polynomial
// approximation of it. Prices are little-endian float64, at least
// MinPrices of them, positive and finite; both outputs are little-endian
// float64: the histogram (entry i belongs to price i+33) and the smooth
// decisions (one per pair of histogram entries). The program must never
// write or print the prices.
package macd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
)

// The guest paths of the example's files.
const (
	ProgramPath   = "/program/moving-average-convergence-divergence.wasm"
	PricesPath    = "/input/prices.dat"
	HistogramPath = "/output/macd/histogram.dat"
	DecisionsPath = "/output/macd/decisions.dat"
)

// Sizes of the generated series, in prices.
const (
	NormalPrices = 5_000
	LargePrices  = 5_000_000
)

// MinPrices is the shortest series with one decision.
const MinPrices = 35

// Norm scales the histogram before the smooth decision, as in Veracruz.
const Norm = 0.5

// ErrFormat is returned for a series that is not positive finite float64
// values, or too short.
var ErrFormat = errors.New("prices are not at least 35 positive finite little-endian float64")

// Result is the computation's output.
type Result struct {
	// Histogram is MACD − signal, from price 33 on.
	Histogram []float64
	// Decisions are the smooth decisions, one per step of Histogram.
	Decisions []float64
	// Crossovers counts the steps where Histogram changes sign.
	Crossovers int
}

// Generate returns n prices, a geometric random walk with slow cycles,
// from a fixed seed: the same n always gives the same bytes.
func Generate(n int) []byte {
	r := rand.New(rand.NewPCG(7, 0x3acd))
	p := 100.0
	out := make([]byte, 8*n)
	for i := range n {
		binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(p))
		p *= math.Exp(0.002*math.Sin(float64(i)/40) + 0.01*r.NormFloat64())
	}
	return out
}

// Inputs returns the trader's file for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n := NormalPrices
	if large {
		n = LargePrices
	}
	return map[string][]byte{PricesPath: Generate(n)}
}

// Decode parses the prices.
func Decode(b []byte) ([]float64, error) {
	if len(b)%8 != 0 || len(b)/8 < MinPrices {
		return nil, fmt.Errorf("%w: %d bytes", ErrFormat, len(b))
	}
	out := make([]float64, len(b)/8)
	for i := range out {
		v := math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: price %d is %v", ErrFormat, i, v)
		}
		out[i] = v
	}
	return out, nil
}

// Encode writes float64 values little-endian.
func Encode(v []float64) []byte {
	out := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(x))
	}
	return out
}

// WMA returns the weighted moving average of data over windows of w: entry
// i is Σ (k+1)·data[i+k] / (w(w+1)/2) for k < w.
func WMA(data []float64, w int) []float64 {
	if len(data) < w {
		return nil
	}
	weights := make([]float64, w)
	for k := range weights {
		weights[k] = 2 * float64(k+1) / float64(w*(w+1))
	}
	out := make([]float64, len(data)-w+1)
	for i := range out {
		s := 0.0
		for k, wt := range weights {
			s += data[i+k] * wt
		}
		out[i] = s
	}
	return out
}

// smooth is Veracruz's polynomial approximation of a crossover decision.
func smooth(first, second float64) float64 {
	a, b := Norm*first, Norm*second
	x := a * b
	p := -0.0001*math.Pow(x, 9) + 0.0003*math.Pow(x, 8) + 0.0025*math.Pow(x, 7) -
		0.009*math.Pow(x, 6) - 0.0253*math.Pow(x, 5) + 0.0984*math.Pow(x, 4) +
		0.0882*math.Pow(x, 3) - 0.5173*x*x + 0.4475*x - 0.0753
	return p * (a - b)
}

// Compute returns the MACD of prices (at least MinPrices of them).
func Compute(prices []float64) Result {
	w12, w26 := WMA(prices, 12), WMA(prices, 26)
	line := make([]float64, len(w26)) // aligned on the price each ends at
	for i := range line {
		line[i] = w12[i+14] - w26[i]
	}
	signal := WMA(line, 9)
	var r Result
	r.Histogram = make([]float64, len(signal))
	for i := range signal {
		r.Histogram[i] = line[i+8] - signal[i]
	}
	for i := 0; i+1 < len(r.Histogram); i++ {
		a, b := r.Histogram[i], r.Histogram[i+1]
		if a*b < 0 {
			r.Crossovers++
		}
		r.Decisions = append(r.Decisions, smooth(a, b))
	}
	return r
}

// Main is the program: it computes the MACD of PricesPath below root,
// writes HistogramPath and DecisionsPath below root and prints the number
// of prices and crossovers.
func Main(root string, stdout io.Writer) error {
	b, err := os.ReadFile(root + PricesPath)
	if err != nil {
		return fmt.Errorf("reading the prices: %w", err)
	}
	prices, err := Decode(b)
	if err != nil {
		return err
	}
	r := Compute(prices)
	if err := os.WriteFile(root+HistogramPath, Encode(r.Histogram), 0o644); err != nil {
		return fmt.Errorf("writing the histogram: %w", err)
	}
	if err := os.WriteFile(root+DecisionsPath, Encode(r.Decisions), 0o644); err != nil {
		return fmt.Errorf("writing the decisions: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "%d prices, %d crossovers\n", len(prices), r.Crossovers)
	return err
}
