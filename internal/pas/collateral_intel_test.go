package pas_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/dcap"
	"github.com/truce-project/truce/attest/dcap/dcaptest"
	"github.com/truce-project/truce/attest/tdx"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/pastest"
)

// tdxQuote relays the production TDX quote in attest/tdx/testdata (its
// report data is its own: the service refuses it before looking).
type tdxQuote []byte

func (tdxQuote) Platform() string { return tdx.Platform }
func (q tdxQuote) Evidence(context.Context, [64]byte) ([]byte, error) {
	return q, nil
}

// verifyAt verifies at a fixed time, inside the validity of the published
// collateral the fake PCS serves.
type verifyAt struct {
	attest.Verifier
	at time.Time
}

func (v verifyAt) Verify(ev []byte, o attest.VerifyOptions) (*attest.Claims, error) {
	o.Now = v.at
	return v.Verifier.Verify(ev, o)
}

// TestCollateralTDX: TDX evidence without collateral gets Intel's
// collateral through the service's cache: fetched and stored the first
// time, served from the store the second, fetched again once stale,
// served stale while the PCS fails, and listed at GET /v1/collateral.
// The fake PCS serves Intel's published collateral for the quote, whose
// TCB info lists no level this platform meets: every attestation is
// refused for that, which shows the collateral arrived and verified.
func TestCollateralTDX(t *testing.T) {
	const dir = "../../attest/tdx/testdata/"
	responses, err := dcaptest.TDXSample(dir)
	if err != nil {
		t.Fatal(err)
	}
	q, err := os.ReadFile(dir + "tdx_prod_quote_SPR_E4.dat")
	if err != nil {
		t.Fatal(err)
	}
	q = q[:4935] // the length the quote states; see PROVENANCE.md
	pcs := dcaptest.New(responses)
	clk := &clock{}
	cache := &pas.CollateralCache{Fetch: dcap.PCSGetter(pcs.Client()), Now: clk.now}
	v := verifyAt{&tdx.Verifier{Fetch: cache}, time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)}
	srv := pastest.Start(t, pastest.Options{Config: pas.Config{Collateral: cache, Verifiers: map[string]attest.Verifier{tdx.Platform: v}}})
	pol := srv.PolicyBytes(t, meas)
	attestOnce := func(wantRequests int) {
		t.Helper()
		_, _, err := srv.Attest(context.Background(), tdxQuote(q), pol)
		if err == nil || !strings.Contains(err.Error(), "no TCB level") {
			t.Fatalf("attestation: %v, want refused for the TCB level the collateral lists", err)
		}
		if n := len(pcs.Requests()); n != wantRequests {
			t.Fatalf("%d requests to the PCS, want %d", n, wantRequests)
		}
	}
	status := func(wantFresh bool) {
		t.Helper()
		resp, err := srv.HTTP.Client().Get(srv.URL + "/v1/collateral")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st []pas.CollateralStatus
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		var urls []string
		for _, s := range st {
			urls = append(urls, s.URL)
			if s.Fresh != wantFresh {
				t.Errorf("%s fresh=%v, want %v", s.URL, s.Fresh, wantFresh)
			}
		}
		slices.Sort(urls)
		want := []string{dcap.QEIdentityURL(dcap.TDX), dcap.PCKCRLURL("platform"), dcap.TCBInfoURL(dcap.TDX, "50806f000000"), dcap.RootCRLURL}
		slices.Sort(want)
		if !slices.Equal(urls, want) {
			t.Fatalf("GET /v1/collateral lists %q, want %q", urls, want)
		}
	}

	attestOnce(4) // fetched and stored
	status(true)
	attestOnce(4) // from the store
	clk.advance(pas.DefaultCollateralMaxAge + time.Minute)
	status(false)
	attestOnce(8) // stale: fetched again
	status(true)
	clk.advance(pas.DefaultCollateralMaxAge + time.Minute)
	pcs.SetFail(true)
	attestOnce(12) // the PCS fails: the stale copies serve
	status(false)
}
