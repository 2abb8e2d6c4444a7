package sgx_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/dcap"
	"github.com/truce-project/truce/attest/dcap/dcaptest"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/sgx/sgxtest"
)

// TestFetchCollateral: without collateral, a verifier with Fetch gets the
// collateral of the quote's FMSPC and PCK CA from the PCS, checks all of
// it (CRLs included), and uses given collateral instead when there is
// some. Intel's published SGX collateral comes without the CRLs of its
// time (see testdata/PROVENANCE.md), so this runs on the fixture
// platform, whose test root signs its collateral.
func TestFetchCollateral(t *testing.T) {
	p := mustPlatform(t)
	col := fixtureCollateral(t, p)
	now := sgxtest.Epoch
	crl := func(ca sgxtest.CA) []byte {
		der, err := sgxtest.CRL(ca, now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	chain := col.TCBInfoIssuerChain
	pckChain := string(encodePEM(p.PCKCA.Cert.Raw)) + chain
	responses := map[string]dcaptest.Response{
		dcap.RootCRLURL:            {Body: crl(p.Root)},
		dcap.PCKCRLURL("platform"): {IssuerChainHeader: "SGX-PCK-CRL-Issuer-Chain", IssuerChain: pckChain, Body: crl(p.PCKCA)},
		dcap.TCBInfoURL(dcap.SGX, "00606a000000"): {IssuerChainHeader: "TCB-Info-Issuer-Chain", IssuerChain: chain,
			Body: []byte(`{"tcbInfo":` + col.TCBInfo + `,"signature":"` + col.TCBInfoSignature + `"}`)},
		dcap.QEIdentityURL(dcap.SGX): {IssuerChainHeader: "SGX-Enclave-Identity-Issuer-Chain", IssuerChain: chain,
			Body: []byte(`{"enclaveIdentity":` + col.QEIdentity + `,"signature":"` + col.QEIdentitySignature + `"}`)},
	}
	pcs := dcaptest.New(responses)
	v := sgx.Verifier{Root: p.Root.Cert, Fetch: dcap.PCSGetter(pcs.Client())}
	q := p.Quote(sgxtest.Report{MRENCLAVE: [32]byte{1}}.Body(), nil)
	c, err := v.Verify(q, attest.VerifyOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if c.Details["crls_checked"] != "true" || c.Details["tcb_status"] == sgx.TCBUnknown || len(c.Collateral) != 2 {
		t.Fatalf("details %v, collateral %v: want the fetched collateral checked, CRLs included", c.Details, c.Collateral)
	}
	if n := len(pcs.Requests()); n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
	// Given collateral wins over fetching.
	v.Collateral = []byte(`{"tcb_info":"x","qe_identity":"x","tcb_info_issuer_chain":"x","qe_identity_issuer_chain":"x"}`)
	if _, err := v.Verify(q, attest.VerifyOptions{Now: now}); !errors.Is(err, sgx.ErrCollateral) || len(pcs.Requests()) != 4 {
		t.Fatalf("given collateral: %v after %d requests; want it used (and refused), nothing fetched", err, len(pcs.Requests()))
	}
	v.Collateral = nil
	// A revoked PCK on the fetched CRL is refused.
	revoked, err := sgxtest.CRL(p.PCKCA, now.Add(-time.Hour), now.Add(time.Hour), p.PCK.Cert)
	if err != nil {
		t.Fatal(err)
	}
	r := responses[dcap.PCKCRLURL("platform")]
	r.Body = revoked
	responses[dcap.PCKCRLURL("platform")] = r
	if _, err := v.Verify(q, attest.VerifyOptions{Now: now}); !errors.Is(err, sgx.ErrChain) {
		t.Fatalf("PCK on the fetched CRL: %v, want ErrChain", err)
	}
	// The PCS down: refused, saying so.
	pcs.SetFail(true)
	if _, err := v.Verify(q, attest.VerifyOptions{Now: now}); !errors.Is(err, sgx.ErrCollateral) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("PCS down: %v, want ErrCollateral saying 503", err)
	}
}
