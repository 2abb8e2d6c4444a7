package client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/truce-project/truce/api"
)

// FuzzDecodeProblem feeds arbitrary error bodies from an enclave (or a host
// pretending to be one) to the problem decoder: it must never panic and
// always yield a *ProblemError carrying the status.
func FuzzDecodeProblem(f *testing.F) {
	f.Add(403, []byte(`{"type":"https://truce.invalid/problems/forbidden","title":"Forbidden","status":403,"detail":"no"}`))
	f.Add(422, []byte(`{"type":"https://truce.invalid/problems/program-failed","status":422,"result":{"exit_code":3,"receipt":{"version":1}}}`))
	f.Add(500, []byte("plain text\xff"))
	f.Add(404, []byte(`{"type":`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		req, _ := http.NewRequest("GET", "https://x.truce/v1/files/a", nil)
		resp := &http.Response{StatusCode: status, Body: io.NopCloser(bytes.NewReader(body))}
		err := decodeProblem(req, resp)
		var pe *ProblemError
		if !errors.As(err, &pe) || pe.Status != status {
			t.Fatalf("decodeProblem = %v", err)
		}
		_ = pe.Error()
		_ = Hint(err)
	})
}

// TestSentinelsCoverProblems: every problem type of the runtime's API
// (api.Problems) decodes to an error matching its own sentinel, with a
// hint, and the runtime's internal failure is not a conflict.
func TestSentinelsCoverProblems(t *testing.T) {
	for _, name := range api.Problems.Names() {
		s, ok := sentinels[name]
		if !ok {
			t.Errorf("problem type %q has no sentinel", name)
			continue
		}
		typ, _ := api.Problems.Type(name)
		body := `{"type":"` + api.Problems.URI(name) + `","title":"` + typ.Title + `","status":` + strconv.Itoa(typ.Status) + `}`
		req, _ := http.NewRequest("GET", "https://x.truce/v1/files/a", nil)
		resp := &http.Response{StatusCode: typ.Status, Body: io.NopCloser(strings.NewReader(body))}
		err := decodeProblem(req, resp)
		if !errors.Is(err, s) {
			t.Errorf("problem type %q decodes to %v, which is not %v", name, err, s)
		}
		if Hint(err) == "" && name != api.ProblemBadRequest && name != api.ProblemConflict {
			t.Errorf("problem type %q has no hint", name)
		}
	}
	req, _ := http.NewRequest("GET", "https://x.truce/v1/files/a", nil)
	resp := &http.Response{StatusCode: 500, Body: io.NopCloser(strings.NewReader(`{"type":"https://truce.invalid/problems/internal","status":500}`))}
	if err := decodeProblem(req, resp); !errors.Is(err, ErrInternal) || errors.Is(err, ErrConflict) {
		t.Fatalf("the runtime's failure decodes to %v", err)
	}
}
