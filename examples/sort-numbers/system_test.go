package sortnumbers

import (
	"bytes"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// TestStory runs the example through the real system: the data owner
// uploads the numbers, the program owner both programs, and the result
// reader runs each and reads the sorted list, which must equal the
// reference. The data owner may not read the result, the reader may not
// read the input.
func TestStory(t *testing.T) {
	ex := Example()
	goProg, cProg := ex.Steps[0], ex.Variants[0]
	progs := []story.Program{{Path: goProg.Path, Wasm: kit.Wasm(t, ".", goProg), Caps: map[string]string{InputPath: "r", "/output/": "w"}}}
	reader := map[string]string{goProg.Path: "x", "/output/": "r"}
	owner := map[string]string{goProg.Path: "w"}
	if c, err := kit.BuildC(cProg.CSource); err == nil {
		progs = append(progs, story.Program{Path: cProg.Path, Wasm: c, Caps: map[string]string{InputPath: "r", "/output/": "w"}})
		reader[cProg.Path] = "x"
		owner[cProg.Path] = "w"
	} else {
		t.Logf("only the Go program: %v", err)
	}
	s := story.Start(t, story.Spec{
		Name: "sort-numbers",
		Parties: []story.Party{
			{Name: "program-owner", Caps: owner},
			{Name: "data-owner", Caps: map[string]string{InputPath: "w"}},
			{Name: "reader", Caps: reader},
		},
		Programs: progs,
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "data-owner", InputPath, in[InputPath])
	want := reference(in[InputPath])
	for _, p := range progs {
		res := s.Run(t, "reader", p.Path)
		if string(res.Stdout) != "sorted 20000 numbers\n" {
			t.Errorf("%s: stdout %q", p.Path, res.Stdout)
		}
		if got := s.Get(t, "reader", OutputPath); !bytes.Equal(got, want) {
			t.Errorf("%s: the sorted numbers differ from the reference", p.Path)
		}
	}
	if _, err := s.Session(t, "data-owner").Get(t.Context(), OutputPath, new(bytes.Buffer)); err == nil {
		t.Error("the data owner read the result")
	}
	if _, err := s.Session(t, "reader").Get(t.Context(), InputPath, new(bytes.Buffer)); err == nil {
		t.Error("the reader read the input")
	}
}
