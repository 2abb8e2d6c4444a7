package logreg

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// check compares the enclave's model with the same training run natively
// and requires a useful model on the synthetic data.
func check(t testing.TB, inputs map[string][]byte, out []byte) {
	t.Helper()
	var got Result
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	var recs []Record
	for _, p := range SetPaths {
		r, err := Decode(inputs[p])
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
	}
	train, test := Split(recs)
	want, err := Train(train, test, Iterations, Degree)
	if err != nil {
		t.Fatal(err)
	}
	if got.TrainRows != want.TrainRows || got.TestRows != want.TestRows || len(got.Weights) != len(want.Weights) {
		t.Fatalf("got %+v, native %+v", got, want)
	}
	for i := range got.Weights {
		if d := got.Weights[i] - want.Weights[i]; d > 1e-9 || d < -1e-9 {
			t.Errorf("weight %d: %v, native %v", i, got.Weights[i], want.Weights[i])
		}
	}
	if got.Accuracy < 75 || got.AUC < 0.85 {
		t.Errorf("accuracy %.2f%%, AUC %.4f: the model did not learn", got.Accuracy, got.AUC)
	}
}

// TestStory: two hospitals upload their records; the researcher runs the
// training and reads the model; no party reads another's records.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "logistic-regression",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{ProgramPath: "w"}},
			{Name: "hospital-a", Caps: map[string]string{SetPaths[0]: "w"}},
			{Name: "hospital-b", Caps: map[string]string{SetPaths[1]: "w"}},
			{Name: "researcher", Caps: map[string]string{ProgramPath: "x", OutputPath: "r"}},
		},
		Programs: []story.Program{{Path: ProgramPath, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{InputDir: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "hospital-a", SetPaths[0], in[SetPaths[0]])
	s.Put(t, "hospital-b", SetPaths[1], in[SetPaths[1]])
	rr := s.Run(t, "researcher", ProgramPath)
	t.Logf("enclave: %s", rr.Stdout)
	check(t, in, s.Get(t, "researcher", OutputPath))
	s.CannotRead(t, "hospital-a", SetPaths[1])
	s.CannotRead(t, "researcher", SetPaths[0])
	s.CannotRead(t, "hospital-b", OutputPath)
	s.Shutdown(t, "researcher")
}

func TestAllWays(t *testing.T) {
	kit.TestAllWays(t, Example(), func(t *testing.T, inputs, files map[string][]byte, stdout string) {
		check(t, inputs, files[OutputPath])
	})
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in  string
		n   int
		err error
	}{
		{"", 0, nil},
		{"1,2.5,3\n0,1,1\n", 2, nil},
		{"2,1\n", 0, ErrFormat},
		{"1\n", 0, ErrFormat},
		{"1,x\n", 0, ErrFormat},
		{"1,1,2\n0,1\n", 0, ErrFormat},
		{"1,NaN\n", 0, ErrFormat},
		{"1,1e400\n", 0, ErrFormat},
	} {
		recs, err := Decode([]byte(tc.in))
		if len(recs) != tc.n || !errors.Is(err, tc.err) {
			t.Errorf("Decode(%q) = %d records, %v; want %d, %v", tc.in, len(recs), err, tc.n, tc.err)
		}
	}
}

func TestTrainTooFew(t *testing.T) {
	one := []Record{{Label: true, Features: []float64{1}}}
	if _, err := Train(one, one, 1, 3); !errors.Is(err, ErrTooFew) {
		t.Errorf("one label only: %v, want %v", err, ErrTooFew)
	}
}

// FuzzDecode: the parser never panics, and training on what it accepts
// never panics.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("1,2.5,3\n0,1,1\n1,0,0\n0,3,3\n1,1,1\n"))
	f.Add([]byte("x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Decode(b)
		if err != nil {
			return
		}
		train, test := Split(recs)
		Train(train, test, 2, 3)
	})
}
