// Package linearregression is the linear-regression example: a data owner
// (a small device) uploads (x, y) measurements, the program fits the
// least-squares line through them in the enclave, and the result reader
// reads the gradient and intercept, never the measurements.
//
// The input file is the points as little-endian IEEE 754 float64 pairs
// (x then y), back to back; the output is JSON {"gradient": g,
// "intercept": c, "points": n}. The program must never write or print the
// points themselves.
package linearregression

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
)

// The guest paths of the example's files.
const (
	ProgramPath = "/program/linear-regression.wasm"
	InputPath   = "/input/linear-regression.dat"
	OutputPath  = "/output/linear-regression.json"
)

// Sizes of the generated input, in points.
const (
	NormalPoints = 10_000
	LargePoints  = 4_000_000
)

// The line the generator scatters its points around.
const (
	TrueGradient  = 3.5
	TrueIntercept = -12.25
)

// ErrFormat is returned for an input that is not whole float64 pairs, or
// holds a value that is not finite.
var ErrFormat = errors.New("points file is not whole pairs of finite little-endian float64")

// ErrDegenerate is returned when no line fits: fewer than two points, or
// every x the same.
var ErrDegenerate = errors.New("no unique line: need at least two points with different x")

// Point is one measurement.
type Point struct{ X, Y float64 }

// Result is what the reader learns.
type Result struct {
	Gradient  float64 `json:"gradient"`
	Intercept float64 `json:"intercept"`
	Points    int     `json:"points"`
}

// Generate returns n points scattered around the line TrueGradient·x +
// TrueIntercept with Gaussian noise, from a fixed seed: the same n always
// gives the same bytes.
func Generate(n int) []byte {
	r := rand.New(rand.NewPCG(1, 0x11e4))
	pts := make([]Point, n)
	for i := range pts {
		x := r.Float64()*200 - 100
		pts[i] = Point{x, TrueGradient*x + TrueIntercept + r.NormFloat64()*8}
	}
	return Encode(pts)
}

// Inputs returns the data owner's file for the normal or large size.
func Inputs(large bool) map[string][]byte {
	n := NormalPoints
	if large {
		n = LargePoints
	}
	return map[string][]byte{InputPath: Generate(n)}
}

// Encode writes points in the input format.
func Encode(pts []Point) []byte {
	out := make([]byte, 16*len(pts))
	for i, p := range pts {
		binary.LittleEndian.PutUint64(out[16*i:], math.Float64bits(p.X))
		binary.LittleEndian.PutUint64(out[16*i+8:], math.Float64bits(p.Y))
	}
	return out
}

// Decode parses the input format; every value must be finite.
func Decode(b []byte) ([]Point, error) {
	if len(b)%16 != 0 {
		return nil, fmt.Errorf("%d bytes: %w", len(b), ErrFormat)
	}
	pts := make([]Point, len(b)/16)
	for i := range pts {
		x := math.Float64frombits(binary.LittleEndian.Uint64(b[16*i:]))
		y := math.Float64frombits(binary.LittleEndian.Uint64(b[16*i+8:]))
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
			return nil, fmt.Errorf("point %d: %w", i, ErrFormat)
		}
		pts[i] = Point{x, y}
	}
	return pts, nil
}

// Fit returns the least-squares line through pts, from the deviations from
// the means (as Veracruz's example computes it).
func Fit(pts []Point) (Result, error) {
	if len(pts) < 2 {
		return Result{}, ErrDegenerate
	}
	var sx, sy float64
	for _, p := range pts {
		sx += p.X
		sy += p.Y
	}
	mx, my := sx/float64(len(pts)), sy/float64(len(pts))
	var num, den float64
	for _, p := range pts {
		num += (p.X - mx) * (p.Y - my)
		den += (p.X - mx) * (p.X - mx)
	}
	g := num / den
	if den == 0 || math.IsNaN(g) || math.IsInf(g, 0) {
		return Result{}, ErrDegenerate
	}
	return Result{Gradient: g, Intercept: my - g*mx, Points: len(pts)}, nil
}

// Main is the program: it fits the line through the points of InputPath
// below root, writes the Result to OutputPath below root and prints how
// many points it used.
func Main(root string, stdout io.Writer) error {
	b, err := os.ReadFile(root + InputPath)
	if err != nil {
		return fmt.Errorf("reading the points: %w", err)
	}
	pts, err := Decode(b)
	if err != nil {
		return err
	}
	res, err := Fit(pts)
	if err != nil {
		return err
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+OutputPath, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the line: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "fitted %d points\n", len(pts))
	return err
}
