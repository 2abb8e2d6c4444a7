package fdcreate

import (
	"io"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// TestStory runs the example through the real system: the tester uploads
// the layout, runs the program and reads every file and the listing back
// through the API, which must match the reference.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "fd-create",
		Parties: []story.Party{
			{Name: "tester", Caps: map[string]string{prog.Path: "wx", LayoutPath: "w", "/output/": "r"}},
		},
		Programs: []story.Program{{Path: prog.Path, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{LayoutPath: "r", "/output/": "rw"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "tester", LayoutPath, in[LayoutPath])
	res := s.Run(t, "tester", prog.Path)
	files := map[string][]byte{}
	for p := range reference(NormalFiles, NormalRounds) {
		files[p] = s.Get(t, "tester", p)
	}
	check(t, in, files, string(res.Stdout))
	for _, gone := range []string{FilesDir + "/" + Name(0), FilesDir + "/" + Name(NormalFiles-1)} {
		if _, err := s.Session(t, "tester").Get(t.Context(), gone, io.Discard); err == nil {
			t.Errorf("%s is still there", gone)
		}
	}
}
