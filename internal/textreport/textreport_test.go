package textreport

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/truce-project/truce/bundle"
	"github.com/truce-project/truce/internal/evidence"
)

// TestBundle writes the report of bundle/testdata's verified bundle.
func TestBundle(t *testing.T) {
	data, err := os.ReadFile("../../bundle/testdata/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := evidence.Verifier(b.Attestation.Platform, "../../bundle/testdata/device.pub")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.Verify(b, bundle.Options{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	Bundle(&w, rep)
	for _, want := range []string{"audit bundle verified: digest " + rep.Digest, "  policy:       ", "  evidence:     ", "runs ("} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, w.String())
		}
	}
}
