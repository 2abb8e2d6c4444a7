package stringsearch

import (
	"bytes"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// TestStory runs the example through the real system: the author uploads
// the document, the searcher its phrases and runs the programs (Go, and C
// when clang-14 is installed), reading the counts, which must equal the
// reference. Neither party may read the other's input.
func TestStory(t *testing.T) {
	ex := Example()
	goProg, cProg := ex.Steps[0], ex.Variants[0]
	pcaps := map[string]string{TextPath: "r", PatternsPath: "r", "/output/": "w"}
	progs := []story.Program{{Path: goProg.Path, Wasm: kit.Wasm(t, ".", goProg), Caps: pcaps}}
	searcher := map[string]string{PatternsPath: "w", goProg.Path: "x", "/output/": "r"}
	if c, err := kit.BuildC(cProg.CSource); err == nil {
		progs = append(progs, story.Program{Path: cProg.Path, Wasm: c, Caps: pcaps})
		searcher[cProg.Path] = "x"
	} else {
		t.Logf("only the Go program: %v", err)
	}
	owner := map[string]string{}
	for _, p := range progs {
		owner[p.Path] = "w"
	}
	s := story.Start(t, story.Spec{
		Name: "string-search",
		Parties: []story.Party{
			{Name: "program-owner", Caps: owner},
			{Name: "author", Caps: map[string]string{TextPath: "w"}},
			{Name: "searcher", Caps: searcher},
		},
		Programs: progs,
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "author", TextPath, in[TextPath])
	s.Put(t, "searcher", PatternsPath, in[PatternsPath])
	want := reference(in[TextPath], in[PatternsPath])
	for _, p := range progs {
		s.Run(t, "searcher", p.Path)
		if got := string(s.Get(t, "searcher", OutputPath)); got != want {
			t.Errorf("%s: matches\n%s\nwant\n%s", p.Path, got, want)
		}
	}
	if _, err := s.Session(t, "searcher").Get(t.Context(), TextPath, new(bytes.Buffer)); err == nil {
		t.Error("the searcher read the document")
	}
	if _, err := s.Session(t, "author").Get(t.Context(), PatternsPath, new(bytes.Buffer)); err == nil {
		t.Error("the author read the phrases")
	}
	if _, err := s.Session(t, "author").Get(t.Context(), OutputPath, new(bytes.Buffer)); err == nil {
		t.Error("the author read the result")
	}
}
