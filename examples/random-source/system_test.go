package randomsource

import (
	"bytes"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// TestStory runs the example through the real system twice: the requester
// asks for random bytes, runs the program, and both parties read the
// draws, which must have the shape and statistics of fair randomness and
// differ between the two runs.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "random-source",
		Parties: []story.Party{
			{Name: "requester", Caps: map[string]string{prog.Path: "wx", RequestPath: "w", "/output/": "r"}},
			{Name: "witness", Caps: map[string]string{"/output/": "r"}},
		},
		Programs: []story.Program{{Path: prog.Path, Wasm: kit.Wasm(t, ".", prog), Caps: map[string]string{RequestPath: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	s.Put(t, "requester", RequestPath, Inputs(false)[RequestPath])
	var draws [][]byte
	for range 2 {
		res := s.Run(t, "requester", prog.Path)
		files := map[string][]byte{BytesPath: s.Get(t, "witness", BytesPath), DicePath: s.Get(t, "witness", DicePath)}
		checkShape(t, NormalBytes, files, string(res.Stdout))
		if !bytes.Equal(files[BytesPath], s.Get(t, "requester", BytesPath)) {
			t.Fatal("the parties read different draws")
		}
		draws = append(draws, files[BytesPath])
	}
	if bytes.Equal(draws[0], draws[1]) {
		t.Fatal("two runs drew the same bytes")
	}
}
