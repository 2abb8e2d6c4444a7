package numberstream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// reference is the state after rounds runs over the first len(stream)
// bytes: the whole readings summed in order, from scratch.
func reference(stream []byte, rounds int) State {
	s := State{Rounds: rounds}
	for i := 0; i+8 <= len(stream); i += 8 {
		s.Sum += math.Float64frombits(binary.LittleEndian.Uint64(stream[i:]))
		s.Count++
	}
	return s
}

func decode(t testing.TB, b []byte) State {
	t.Helper()
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("state %q: %v", b, err)
	}
	return s
}

// TestStory: the sensor appends its readings in rounds (one reading split
// across two rounds, and a round with nothing new); the analyst runs the
// program after each round and reads the running state, which must equal
// the reference over everything sent so far. The sensor can neither
// rewrite nor read the stream; the analyst cannot read it either.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "number-stream-accumulation",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{ProgramPath: "w"}},
			{Name: "sensor", Caps: map[string]string{StreamPath: "a"}},
			{Name: "analyst", Caps: map[string]string{ProgramPath: "x", StatePath: "r"}},
		},
		Programs: []story.Program{{Path: ProgramPath, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{StreamPath: "r", "/output/": "rw"}}},
	})
	s.UploadPrograms(t)
	stream := Inputs(false)[StreamPath]
	batch := 8 * NormalBatch
	// Cut points: whole batches, but the third ends three bytes early
	// and the fourth starts with those bytes; the last round sends nothing.
	cuts := []int{batch, 2 * batch, 3*batch - 3, 4 * batch, 5 * batch, 5 * batch}
	sent := 0
	for round, cut := range cuts {
		if cut > sent {
			s.Append(t, "sensor", StreamPath, stream[sent:cut])
			sent = cut
		}
		rr := s.Run(t, "analyst", ProgramPath)
		want := reference(stream[:sent], round+1)
		got := decode(t, s.Get(t, "analyst", StatePath))
		if got != want {
			t.Errorf("round %d: state %+v, reference %+v", round+1, got, want)
		}
		prev := reference(stream[:0], 0)
		if round > 0 {
			prev = reference(stream[:cuts[round-1]], round)
		}
		if line := fmt.Sprintf("round %d: added %d readings\n", round+1, want.Count-prev.Count); string(rr.Stdout) != line {
			t.Errorf("stdout %q, want %q", rr.Stdout, line)
		}
	}
	if sent != len(stream) {
		t.Fatalf("sent %d of %d bytes", sent, len(stream))
	}
	s.CannotWrite(t, "sensor", StreamPath)
	s.CannotRead(t, "sensor", StreamPath)
	s.CannotRead(t, "analyst", StreamPath)
	s.CannotRead(t, "sensor", StatePath)
	s.Shutdown(t, "analyst")
}

func TestAllWays(t *testing.T) {
	kit.TestAllWays(t, Example(), func(t *testing.T, inputs, files map[string][]byte, stdout string) {
		if got, want := decode(t, files[StatePath]), reference(inputs[StreamPath], 1); got != want {
			t.Errorf("state %+v, reference %+v", got, want)
		}
	})
}

func TestGenerateDeterministic(t *testing.T) {
	if a, b := Generate(50), Generate(50); !bytes.Equal(a, b) || len(a) != 400 {
		t.Fatal("Generate is not deterministic")
	}
}

func TestAccumulate(t *testing.T) {
	enc := func(vs ...float64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	start := State{Rounds: 2, Count: 3, Sum: 1.5}
	for _, tc := range []struct {
		name string
		in   []byte
		want State
		err  error
	}{
		{"nothing new", nil, State{3, 3, 1.5}, nil},
		{"two", enc(1, 2), State{3, 5, 4.5}, nil},
		{"partial reading waits", append(enc(1), 0, 0, 0), State{3, 4, 2.5}, nil},
		{"nan", enc(1, math.NaN()), start, ErrFormat},
		{"infinity", enc(math.Inf(1)), start, ErrFormat},
		{"overflow", enc(math.MaxFloat64, math.MaxFloat64), start, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Accumulate(start, tc.in)
			if got != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("got %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestDecodeState(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want State
		err  error
	}{
		{`{"rounds":1,"count":2,"sum":3.5}`, State{1, 2, 3.5}, nil},
		{`{}`, State{}, nil},
		{`{"rounds":-1}`, State{}, ErrFormat},
		{`{"count":-1}`, State{}, ErrFormat},
		{`{"sum":"x"}`, State{}, ErrFormat},
		{`{"sum":1e999}`, State{}, ErrFormat},
		{``, State{}, ErrFormat},
	} {
		got, err := DecodeState([]byte(tc.in))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("DecodeState(%s) = %+v, %v; want %+v, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// FuzzAccumulate: the state parser and the accumulation never panic, and
// accumulating any split of a stream gives the same count as all at once.
func FuzzAccumulate(f *testing.F) {
	f.Add([]byte(`{"rounds":1,"count":0,"sum":0}`), Generate(3), 5)
	f.Add([]byte(`{"count":-5}`), []byte{1, 2}, 0)
	f.Fuzz(func(t *testing.T, state, stream []byte, cut int) {
		s, err := DecodeState(state)
		if err != nil {
			return
		}
		whole, err := Accumulate(State{}, stream)
		if err != nil {
			return
		}
		cut = int(uint(cut) % uint(len(stream)+1))
		first, err := Accumulate(State{}, stream[:cut])
		if err != nil {
			t.Fatal(err)
		}
		rest, err := Accumulate(first, stream[8*first.Count:])
		if err != nil {
			return // a split sum may overflow where the whole does not
		}
		if rest.Count != whole.Count {
			t.Fatalf("split at %d counts %d, whole %d", cut, rest.Count, whole.Count)
		}
		Accumulate(s, stream)
	})
}
