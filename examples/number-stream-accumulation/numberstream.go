// Package numberstream is the number-stream-accumulation example: a
// sensor's owner appends readings to a stream in the enclave, round after
// round; after each round the program adds the new readings to a running
// state file, and the analyst reads the running count and sum, never a
// single reading. The sensor's owner may only append: what was sent can
// never be rewritten.
//
// The stream is little-endian IEEE 754 float64 readings, back to back; a
// trailing partial reading waits for the rest of its bytes. The state is
// JSON {"rounds": r, "count": n, "sum": s}: the program seeks past the
// count readings already added, adds the new whole readings in order, and
// writes the state anew. The program must never write or print a reading.
package numberstream

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
)

// The guest paths of the example's files.
const (
	ProgramPath = "/program/number-stream-accumulation.wasm"
	StreamPath  = "/input/stream/readings.dat"
	StatePath   = "/output/accumulation.json"
)

// Sizes of the generated stream, in readings, and of each round's batch.
const (
	NormalReadings, NormalBatch = 2_000, 400
	LargeReadings               = 10_000_000
)

// ErrFormat is returned for a reading that is not finite or a state file
// that is not the program's.
var ErrFormat = errors.New("stream or state is not in the example's format")

// State is the running state the program keeps, and what the analyst
// learns.
type State struct {
	Rounds int     `json:"rounds"`
	Count  int64   `json:"count"`
	Sum    float64 `json:"sum"`
}

// Generate returns n readings (a noisy daily cycle around 20) from a fixed
// seed: the same n always gives the same bytes.
func Generate(n int) []byte {
	r := rand.New(rand.NewPCG(6, 0x5ea))
	out := make([]byte, 8*n)
	for i := range n {
		v := 20 + 5*math.Sin(float64(i)*2*math.Pi/288) + r.NormFloat64()
		binary.LittleEndian.PutUint64(out[8*i:], math.Float64bits(v))
	}
	return out
}

// Inputs returns the whole stream for the normal or large size (the story
// test appends it in batches of NormalBatch readings).
func Inputs(large bool) map[string][]byte {
	n := NormalReadings
	if large {
		n = LargeReadings
	}
	return map[string][]byte{StreamPath: Generate(n)}
}

// DecodeState parses a state file.
func DecodeState(b []byte) (State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if s.Rounds < 0 || s.Count < 0 || math.IsNaN(s.Sum) || math.IsInf(s.Sum, 0) {
		return State{}, fmt.Errorf("%w: negative count or rounds, or a sum that is not finite", ErrFormat)
	}
	return s, nil
}

// Accumulate adds the whole readings in b to s, in order, and counts a
// round. Trailing bytes that are not a whole reading are left for the next
// round. A reading that is not finite is an error, and s is unchanged.
func Accumulate(s State, b []byte) (State, error) {
	n := len(b) / 8
	sum := s.Sum
	for i := range n {
		v := math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return s, fmt.Errorf("%w: reading %d is not finite", ErrFormat, s.Count+int64(i))
		}
		sum += v
	}
	if math.IsInf(sum, 0) {
		return s, fmt.Errorf("%w: the sum overflows", ErrFormat)
	}
	return State{Rounds: s.Rounds + 1, Count: s.Count + int64(n), Sum: sum}, nil
}

// Main is the program: it reads the state at StatePath below root (none
// yet is the zero state), adds the readings of StreamPath past those
// already counted, writes the new state and prints how many it added.
func Main(root string, stdout io.Writer) error {
	var s State
	b, err := os.ReadFile(root + StatePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading the state: %w", err)
	default:
		if s, err = DecodeState(b); err != nil {
			return err
		}
	}
	f, err := os.Open(root + StreamPath)
	if err != nil {
		return fmt.Errorf("opening the stream: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(8*s.Count, io.SeekStart); err != nil {
		return fmt.Errorf("seeking past the %d readings already added: %w", s.Count, err)
	}
	fresh, err := io.ReadAll(f)
	if err != nil {
		return fmt.Errorf("reading the stream: %w", err)
	}
	before := s.Count
	if s, err = Accumulate(s, fresh); err != nil {
		return err
	}
	out, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.WriteFile(root+StatePath, append(out, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the state: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "round %d: added %d readings\n", s.Rounds, s.Count-before)
	return err
}
