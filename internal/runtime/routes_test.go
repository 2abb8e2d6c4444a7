package runtime

import (
	"testing"

	"github.com/truce-project/truce/api"
)

// TestRoutes: every path and method of the API reaches its route or a
// problem that says what to do; nothing is redirected, whatever the path.
func TestRoutes(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	rita := w.client("rita", true)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", api.PathPolicy, 200, ""},
		{"HEAD", api.PathPolicy, 200, ""},
		{"GET", api.PathPolicyChain, 200, ""},
		{"DELETE", api.PathPolicy, 405, "GET, HEAD"},
		{"PUT", api.PathAudit, 405, "GET"},
		{"GET", api.PathRun + "program/shamir.wasm", 405, "POST"},
		{"DELETE", api.PathFiles + "output/x", 405, "GET, HEAD, PUT, POST"},
		{"GET", api.PathFiles + "output/none", 404, ""},
		{"GET", api.PathFiles, 400, ""},
		{"GET", api.PathFiles + "output/", 400, ""},
		{"GET", "/v1/files", 404, ""},
		{"GET", "/v1/run", 404, ""},
		{"GET", "/v1/nothing", 404, ""},
		{"GET", "/", 404, ""},
		{"GET", "/v1/policy/", 404, ""},
		{"GET", "/v1/files/output/../input/shamir-0.dat", 400, ""},
		{"GET", "/v1/files//output/x", 400, ""},
		{"GET", "/v1/./policy", 400, ""},
		{"GET", "/v1//audit", 400, ""},
		{"POST", "/v1/run/program/./shamir.wasm", 400, ""},
		{"GET", "/v1/files/output%2F..%2Finput%2Fshamir-0.dat", 400, ""},
	} {
		r, err := rita.do(tc.method, tc.path, nil)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if r.status != tc.status {
			t.Errorf("%s %s = %d, want %d (%s)", tc.method, tc.path, r.status, tc.status, r.body)
		}
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		if r.status >= 400 && tc.method != "HEAD" && r.problem == nil {
			t.Errorf("%s %s: %d without a problem body: %s", tc.method, tc.path, r.status, r.body)
		}
	}
}
