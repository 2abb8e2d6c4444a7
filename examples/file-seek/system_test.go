package fileseek

import (
	"bytes"
	"testing"

	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/examples/internal/story"
)

func TestMain(m *testing.M) { story.Main(m) }

// TestStory runs the example through the real system: the database owner
// uploads the records, the querier its record numbers, runs the program
// and reads the records it asked for, which must equal the reference. The
// owner cannot read the queries nor the result; the querier cannot read
// the database.
func TestStory(t *testing.T) {
	prog := Example().Steps[0]
	s := story.Start(t, story.Spec{
		Name: "file-seek",
		Parties: []story.Party{
			{Name: "program-owner", Caps: map[string]string{prog.Path: "w"}},
			{Name: "database-owner", Caps: map[string]string{RecordsPath: "w"}},
			{Name: "querier", Caps: map[string]string{QueriesPath: "w", prog.Path: "x", "/output/": "r"}},
		},
		Programs: []story.Program{{Path: prog.Path, Wasm: kit.Wasm(t, ".", prog),
			Caps: map[string]string{RecordsPath: "r", QueriesPath: "r", "/output/": "w"}}},
	})
	s.UploadPrograms(t)
	in := Inputs(false)
	s.Put(t, "database-owner", RecordsPath, in[RecordsPath])
	s.Put(t, "querier", QueriesPath, in[QueriesPath])
	res := s.Run(t, "querier", prog.Path)
	check(t, in, map[string][]byte{OutputPath: s.Get(t, "querier", OutputPath)}, string(res.Stdout))
	for _, p := range []string{QueriesPath, OutputPath} {
		if _, err := s.Session(t, "database-owner").Get(t.Context(), p, new(bytes.Buffer)); err == nil {
			t.Errorf("the database owner read %s", p)
		}
	}
	if _, err := s.Session(t, "querier").Get(t.Context(), RecordsPath, new(bytes.Buffer)); err == nil {
		t.Error("the querier read the database")
	}
}
