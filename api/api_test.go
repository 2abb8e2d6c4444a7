package api_test

import (
	"net/http"
	"testing"

	"github.com/truce-project/truce/api"
)

// TestProblems: every type of the runtime's scheme has a title and an
// error status, its URI is ProblemBase + name and names back, and a type
// of another API has no name here.
func TestProblems(t *testing.T) {
	names := api.Problems.Names()
	if len(names) < 13 {
		t.Fatalf("api.Problems lists %d types", len(names))
	}
	for _, n := range names {
		typ, ok := api.Problems.Type(n)
		if !ok || typ.Title == "" || typ.Status < 400 || typ.Status > 599 || !typ.Allows(typ.Status) {
			t.Errorf("type %q: %+v", n, typ)
		}
		uri := api.Problems.URI(n)
		if uri != api.ProblemBase+n || api.Problems.Name(uri) != n || (&api.Problem{Type: uri}).Name() != n {
			t.Errorf("type %q: URI %q names back %q", n, uri, api.Problems.Name(uri))
		}
	}
	if typ, _ := api.Problems.Type(api.ProblemInternal); typ.Status != http.StatusInternalServerError {
		t.Errorf("internal answers %d", typ.Status)
	}
	if typ, _ := api.Problems.Type(api.ProblemConflict); typ.Allows(http.StatusInternalServerError) {
		t.Error("a conflict may answer 500")
	}
	for _, uri := range []string{"tag:truce-project.org,2026:pas/bad-nonce", api.ProblemBase, "forbidden", ""} {
		if n := api.Problems.Name(uri); n != "" {
			t.Errorf("Name(%q) = %q", uri, n)
		}
	}
	if _, ok := api.Problems.Type("no-such-type"); ok {
		t.Error("an unknown type is listed")
	}
}
