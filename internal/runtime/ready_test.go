package runtime

import (
	"net/http"
	"strings"
	"testing"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/shamir"
)

// TestReadinessIgnoresGrantSpelling: the Shamir program is granted the
// directory /input/, not its files; it still waits for every file the data
// owners may write there (named one by one, or under a directory they may
// write), so a run with a missing input never reports success. (Before,
// a directory grant turned the check off: the program ran on one share
// and returned its bytes as the secret, exit 0.)
func TestReadinessIgnoresGrantSpelling(t *testing.T) {
	w := newWorld(t, worldOptions{caps: map[string]capability.Set{"alice": {"/input/extra/": capability.Write}}})
	w.start()
	w.client("paula", true).put(pShamir, shamir.Wasm, http.StatusCreated)
	alice, bob, rita := w.client("alice", true), w.client("bob", true), w.client("rita", true)
	notReady := func(want ...string) {
		t.Helper()
		r := rita.must(http.MethodPost, api.PathRun+strings.TrimPrefix(pShamir, "/"), nil, http.StatusConflict)
		for _, p := range want {
			if !strings.Contains(string(r.body), p) {
				t.Errorf("the refusal does not name %s: %s", p, r.body)
			}
		}
	}
	notReady("/input/shamir-0.dat", "/input/shamir-1.dat", "/input/shamir-2.dat", "/input/extra/")
	alice.put("/input/shamir-0.dat", []byte("share"), http.StatusCreated)
	notReady("/input/shamir-1.dat", "/input/shamir-2.dat", "/input/extra/")
	alice.put("/input/shamir-1.dat", []byte("share"), http.StatusCreated)
	bob.put("/input/shamir-2.dat", []byte("share"), http.StatusCreated)
	notReady("/input/extra/")
	alice.put("/input/extra/more/one.dat", []byte("x"), http.StatusCreated)
	// Every input is there: the program runs (these shares are not
	// Shamir's, so it fails, but it ran, and read every input).
	r := rita.must(http.MethodPost, api.PathRun+strings.TrimPrefix(pShamir, "/"), nil, http.StatusUnprocessableEntity)
	if !strings.Contains(string(r.body), "/input/extra/more/one.dat") {
		t.Errorf("the run's receipt does not name the file under /input/extra/: %s", r.body)
	}
}
