package primes

import (
	"bytes"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// TestStory runs the example through the real system as the policy's
// "primes" pipeline: the requester uploads a range and runs the pipeline,
// then reads the primes, which must equal the reference. Neither party can
// read the candidates passed between the steps.
func TestStory(t *testing.T) {
	ex := Example()
	gen, filter := ex.Steps[0], ex.Steps[1]
	s := story.Start(t, story.Spec{
		Name: "prime-numbers",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{gen.Path: "w", filter.Path: "w"}},
			{Name: "requester", Caps: map[string]string{RangePath: "w", gen.Path: "x", filter.Path: "x", "/output/": "r"}},
		},
		Programs: []story.Program{
			{Path: gen.Path, Wasm: kit.Wasm(t, ".", gen), Caps: map[string]string{RangePath: "r", "/pipeline/": "w"}},
			{Path: filter.Path, Wasm: kit.Wasm(t, ".", filter), Caps: map[string]string{"/pipeline/": "r", "/output/": "w"}},
		},
		Pipelines: []story.Pipeline{{Name: "primes", Steps: []string{gen.Path, filter.Path}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "requester", RangePath, in[RangePath])
	res := s.RunPipeline(t, "requester", "primes")
	if len(res.Steps) != 2 {
		t.Fatalf("%d steps ran", len(res.Steps))
	}
	stdout := string(res.Steps[0].Stdout) + string(res.Steps[1].Stdout)
	check(t, in, map[string][]byte{OutputPath: s.Get(t, "requester", OutputPath)}, stdout)
	for _, who := range []string{"requester", "program-owner"} {
		if _, err := s.Session(t, who).Get(t.Context(), CandidatesPath, new(bytes.Buffer)); err == nil {
			t.Errorf("%s read the candidates", who)
		}
	}
}
