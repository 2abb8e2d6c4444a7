package huffman

import (
	"bytes"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// TestStory runs the example through the real system: the program owner
// uploads the compressor, the data owner its text, runs the program and
// reads the encoded file back, which must decode (with the test's own
// decoder) to the text and be as short as an optimal code allows. The
// program owner can neither read the text nor the result.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "huffman-encoding",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{prog.Path: "w"}},
			{Name: "data-owner", Caps: map[string]string{TextPath: "w", prog.Path: "x", "/output/": "r"}},
		},
		Programs: []story.Program{{Path: prog.Path, Wasm: kit.Wasm(t, ".", prog), Caps: map[string]string{TextPath: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "data-owner", TextPath, in[TextPath])
	res := s.Run(t, "data-owner", prog.Path)
	files := map[string][]byte{OutputPath: s.Get(t, "data-owner", OutputPath)}
	check(t, in, files, string(res.Stdout))
	for _, p := range []string{TextPath, OutputPath} {
		if _, err := s.Session(t, "program-owner").Get(t.Context(), p, new(bytes.Buffer)); err == nil {
			t.Errorf("the program owner read %s", p)
		}
	}
}
