package imageproc

import (
	"bytes"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// TestStory runs the example through the real system: the photographer
// uploads the colour image, the reader runs the program and reads the
// blurred grey image, which must equal the reference; the reader cannot
// read the colour image.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "image-processing",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{prog.Path: "w"}},
			{Name: "photographer", Caps: map[string]string{InputPath: "w"}},
			{Name: "reader", Caps: map[string]string{prog.Path: "x", "/output/": "r"}},
		},
		Programs: []story.Program{{Path: prog.Path, Wasm: kit.Wasm(t, ".", prog), Caps: map[string]string{InputPath: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "photographer", InputPath, in[InputPath])
	res := s.Run(t, "reader", prog.Path)
	check(t, in, map[string][]byte{OutputPath: s.Get(t, "reader", OutputPath)}, string(res.Stdout))
	if _, err := s.Session(t, "reader").Get(t.Context(), InputPath, new(bytes.Buffer)); err == nil {
		t.Error("the reader read the colour image")
	}
}
