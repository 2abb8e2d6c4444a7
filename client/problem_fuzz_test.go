package client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
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
