package paswire

import (
	"errors"
	"net/http"
	"testing"
)

// TestProblems: every problem type of the service has a row in the one
// table, and a problem made of it carries the row's status and title,
// names its type back and wraps the row's sentinel; an unknown type wraps
// ErrService.
func TestProblems(t *testing.T) {
	if len(Problems.Names()) != len(kinds) || len(kinds) < 15 {
		t.Fatalf("%d types in the scheme, %d rows", len(Problems.Names()), len(kinds))
	}
	for _, n := range Problems.Names() {
		p := NewProblem(n, "detail")
		typ, _ := Problems.Type(n)
		if p.Type != ProblemBase+n || p.Kind() != n || p.Status != typ.Status || p.Title != typ.Title || p.Title == "" {
			t.Errorf("type %q: %+v", n, p)
		}
		if !errors.Is(p, kinds[n].err) || kinds[n].err == nil {
			t.Errorf("type %q does not wrap its sentinel", n)
		}
	}
	if p := NewProblem(ProblemInternal, ""); p.Status != http.StatusInternalServerError || !errors.Is(p, ErrService) {
		t.Errorf("internal: %+v", p)
	}
	unknown := &ProblemError{Type: ProblemBase + "from-a-newer-service", Status: 418}
	if !errors.Is(unknown, ErrService) || unknown.Kind() != "from-a-newer-service" {
		t.Errorf("unknown type: %v", unknown)
	}
}
