package server

import (
	"errors"
	"strings"
	"testing"

	"github.com/truce-project/truce/attest/dcap"
)

type recordGetter struct{ got *[]string }

func (r recordGetter) Get(url string) ([]byte, error) {
	*r.got = append(*r.got, url)
	return nil, errors.New("recorded")
}

// TestVendorGetter: each vendor's URLs go to its getter; no other URL is
// fetched.
func TestVendorGetter(t *testing.T) {
	var amd, intel []string
	g := vendorGetter{{kdsPrefix, recordGetter{&amd}}, {dcap.PCSBase + "/", recordGetter{&intel}}, {dcap.RootCRLURL, recordGetter{&intel}}}
	for _, u := range []string{kdsPrefix + "vcek/v1/Milan/ab", dcap.TCBInfoURL(dcap.TDX, "50806f000000"), dcap.RootCRLURL} {
		g.Get(u)
	}
	if _, err := g.Get("https://example.com/x"); err == nil || !strings.Contains(err.Error(), "not a URL of") {
		t.Fatalf("another host: %v", err)
	}
	if len(amd) != 1 || len(intel) != 2 {
		t.Fatalf("AMD got %q, Intel %q", amd, intel)
	}
}
