package runtime

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/audit"
)

// TestFailedPipelineCommitsWhatRan: the steps of a pipeline share one
// overlay, committed when the pipeline ends; a pipeline that stops at a
// failing step still publishes what the steps before it wrote (as when
// each step wrote in place), its receipt names exactly that, and the
// steps after it leave nothing.
func TestFailedPipelineCommitsWhatRan(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	paula, rita := w.client("paula", true), w.client("rita", true)
	secret := []byte("piped then failed")
	w.uploadShamir(secret)
	paula.put(pCopy, w.misWasm, http.StatusCreated)
	paula.put(pFail, w.misWasm, http.StatusCreated)
	p := rita.refused(http.MethodPost, api.PathPipelines+"combine-fail", nil, 422, api.ProblemProgramFailed)
	if p.Pipeline == nil || len(p.Pipeline.Steps) != 2 {
		t.Fatalf("failed pipeline problem = %+v", p)
	}
	got := rita.get("/output/shamir.dat")
	if !bytes.Equal(got, secret) {
		t.Fatalf("the first step's output after the failure: %q", got)
	}
	named := map[string]string{}
	for _, f := range p.Pipeline.Receipt.Outputs {
		named[f.Path] = f.Commitment
	}
	if err := audit.Open(named["/output/shamir.dat"], rita.salt("/output/shamir.dat"), bytes.NewReader(got)); err != nil {
		t.Errorf("the receipt names %v, which does not open to the committed output: %v", named, err)
	}
	if _, ok := named["/output/copy.dat"]; ok {
		t.Errorf("the receipt names the output of a step that did not run: %v", named)
	}
	rita.refused(http.MethodGet, api.PathFiles+"output/copy.dat", nil, http.StatusNotFound, api.ProblemNotFound)
}
