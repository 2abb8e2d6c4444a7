package tdx

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/dcap"
	"github.com/truce-project/truce/attest/dcap/dcaptest"
)

func samplePCS(t *testing.T) (*dcaptest.PCS, map[string]dcaptest.Response) {
	t.Helper()
	resp, err := dcaptest.TDXSample("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return dcaptest.New(resp), resp
}

// TestFetchCollateral: without collateral, a verifier with Fetch gets
// Intel's published collateral for the quote's FMSPC and PCK CA from the
// PCS and judges the quote exactly as with the same collateral given in a
// file; given collateral is used instead of fetching.
func TestFetchCollateral(t *testing.T) {
	q, col := quote(t), load(t, "collateral.json")
	pcs, _ := samplePCS(t)
	v := &Verifier{Fetch: dcap.PCSGetter(pcs.Client())}
	_, fileErr := NewVerifier().Verify(q, attest.VerifyOptions{Now: at, Collateral: col})
	_, err := v.Verify(q, attest.VerifyOptions{Now: at})
	if !errors.Is(err, ErrTCB) || err.Error() != fileErr.Error() {
		t.Fatalf("with fetched collateral: %v; want as with the file: %v", err, fileErr)
	}
	want := []string{dcap.RootCRLURL, dcap.PCKCRLURL("platform"), dcap.TCBInfoURL(dcap.TDX, "50806f000000"), dcap.QEIdentityURL(dcap.TDX)}
	if got := pcs.Requests(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("requested %q, want %q", got, want)
	}
	// Given collateral, in the options or kept by the verifier, wins.
	for _, given := range []*Verifier{{Fetch: v.Fetch, Collateral: col}, v} {
		opts := attest.VerifyOptions{Now: at}
		if given == v {
			opts.Collateral = col
		}
		if _, err := given.Verify(q, opts); !errors.Is(err, ErrTCB) {
			t.Fatalf("given collateral: %v, want ErrTCB", err)
		}
	}
	if n := len(pcs.Requests()); n != 4 {
		t.Fatalf("%d requests, want none beyond the first 4 when collateral is given", n)
	}
	// The PCS down: refused, saying so, never accepted unchecked.
	pcs.SetFail(true)
	if _, err := v.Verify(q, attest.VerifyOptions{Now: at}); !errors.Is(err, ErrCollateral) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("PCS down: %v, want ErrCollateral saying 503", err)
	}
}

// TestFetchedCollateralChecked: what the PCS (or whoever answers for it)
// sends is checked as given collateral is: a changed body or a missing
// issuer chain is refused.
func TestFetchedCollateralChecked(t *testing.T) {
	q := quote(t)
	tcbURL := dcap.TCBInfoURL(dcap.TDX, "50806f000000")
	for name, change := range map[string]func(r *dcaptest.Response){
		"tcb info changed": func(r *dcaptest.Response) {
			r.Body = bytes.Replace(r.Body, []byte(`"tcbEvaluationDataNumber":15`), []byte(`"tcbEvaluationDataNumber":16`), 1)
		},
		"no issuer chain": func(r *dcaptest.Response) { r.IssuerChainHeader = "" },
		"not JSON":        func(r *dcaptest.Response) { r.Body = []byte("<html>") },
	} {
		t.Run(name, func(t *testing.T) {
			_, resp := samplePCS(t)
			r := resp[tcbURL]
			change(&r)
			resp[tcbURL] = r
			v := &Verifier{Fetch: dcap.PCSGetter(dcaptest.New(resp).Client())}
			if _, err := v.Verify(q, attest.VerifyOptions{Now: at}); !errors.Is(err, ErrCollateral) {
				t.Fatalf("got %v, want ErrCollateral", err)
			}
		})
	}
}
