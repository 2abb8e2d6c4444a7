package pas_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/pastest"
	"github.com/truce-project/truce/internal/paswire"
	"github.com/truce-project/truce/policy"
)

// snpLike checks simulated evidence with the real sim verifier, then
// presents it as snp evidence with the measurement and TCB set by the
// test: what a real snp verifier returns for a report, without the
// hardware.
type snpLike struct {
	inner       attest.Verifier
	measurement []byte
	tcb         map[string]int
}

func (v *snpLike) Platform() string { return "snp" }
func (v *snpLike) Verify(ev []byte, o attest.VerifyOptions) (*attest.Claims, error) {
	c, err := v.inner.Verify(ev, o)
	if err != nil {
		return nil, err
	}
	c.Platform, c.Simulated, c.Measurement, c.TCB = "snp", false, v.measurement, v.tcb
	return c, nil
}

type relabel struct{ attest.Provider }

func (relabel) Platform() string { return "snp" }

func TestAttestMinimumTCBAndRevocation(t *testing.T) {
	fake := &snpLike{}
	srv := pastest.Start(t, pastest.Options{Config: pas.Config{Verifiers: map[string]attest.Verifier{"snp": fake}}})
	fake.inner = sim.NewVerifier(srv.Device.Public())
	good, old := bytes.Repeat([]byte{0x5a}, 48), bytes.Repeat([]byte{0x01}, 48)
	polBytes := attesttest.PolicyBytes(t, attesttest.PolicyOptions{
		CACertPEM: srv.CAPEM(), Service: srv.URL,
		Runtimes:   []attesttest.Runtime{{Platform: "snp", Measurement: good}},
		MinimumTCB: map[string]policy.TCB{"snp": {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}},
		Revoked:    []policy.Revocation{{Platform: "snp", Measurement: hex.EncodeToString(old), Reason: "TRUCE-2026-01"}},
	})
	pol, err := policy.Parse(polBytes, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]int{"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}
	below := func(k string) map[string]int {
		m := maps.Clone(at)
		m[k]--
		return m
	}
	prov := relabel{srv.Provider(bytes.Repeat([]byte{9}, 32))}
	for _, tc := range []struct {
		name        string
		measurement []byte
		tcb         map[string]int
		sentinel    error
		kind        string
		claim       string
	}{
		{name: "at minimum", measurement: good, tcb: at},
		{name: "bootloader below", measurement: good, tcb: below("bootloader"), sentinel: attest.ErrTCBTooLow, kind: paswire.ProblemTCB, claim: "snp tcb bootloader"},
		{name: "snp below", measurement: good, tcb: below("snp"), sentinel: attest.ErrTCBTooLow, kind: paswire.ProblemTCB, claim: "snp tcb snp"},
		{name: "microcode below", measurement: good, tcb: below("microcode"), sentinel: attest.ErrTCBTooLow, kind: paswire.ProblemTCB, claim: "snp tcb microcode"},
		{name: "revoked", measurement: old, tcb: at, sentinel: attest.ErrRevoked, kind: paswire.ProblemRevoked, claim: "snp measurement"},
		{name: "wrong measurement", measurement: bytes.Repeat([]byte{0xee}, 48), tcb: at, sentinel: attest.ErrUntrustedMeasurement, kind: paswire.ProblemUntrustedMeasurement, claim: "snp measurement"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake.measurement, fake.tcb = tc.measurement, tc.tcb
			_, chain, err := srv.Attest(context.Background(), prov, polBytes)
			if tc.sentinel == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				// The certificate carries the TCB, and the client's check passes.
				id, err := attest.CheckEnclave(chain, pol, time.Now())
				if err != nil || !maps.Equal(id.TCB, tc.tcb) {
					t.Fatalf("client check: %v, TCB %v", err, id)
				}
				return
			}
			var pe *paswire.ProblemError
			var v *attest.Verdict
			if !errors.As(err, &pe) || pe.Kind() != tc.kind || !errors.Is(err, tc.sentinel) || !errors.As(err, &v) {
				t.Fatalf("got %v, want a %s problem carrying a verdict", err, tc.kind)
			}
			if v.Claim != tc.claim || v.Expected == "" || v.Actual == "" || v.Hint == "" || !strings.Contains(pe.Detail, tc.claim) {
				t.Fatalf("verdict %+v, detail %q", v, pe.Detail)
			}
		})
	}
}

// TestProblemVerdictFromNetwork: a verdict in a problem is shown only if
// it names a known rule; the problem's sentinel comes from its type, never
// from the verdict.
func TestProblemVerdictFromNetwork(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		asVerdict  bool
	}{
		{"valid", `{"type":"tag:truce-project.org,2026:pas/tcb-too-low","status":403,"verdict":{"rule":"minimum-tcb","claim":"snp tcb microcode","expected":"≥ 68","actual":"60"}}`, true},
		{"unknown rule", `{"type":"tag:truce-project.org,2026:pas/tcb-too-low","status":403,"verdict":{"rule":"nonsense","claim":"x"}}`, false},
		{"no verdict", `{"type":"tag:truce-project.org,2026:pas/tcb-too-low","status":403}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(tc.body))
			}))
			defer hs.Close()
			c := &paswire.Client{URL: hs.URL, HTTP: hs.Client()}
			_, err := c.Attest(context.Background(), paswire.AttestRequest{})
			var v *attest.Verdict
			if got := errors.As(err, &v); got != tc.asVerdict || !errors.Is(err, attest.ErrTCBTooLow) {
				t.Fatalf("%v: verdict found %v, want %v", err, got, tc.asVerdict)
			}
			if b, _ := json.Marshal(err); len(b) == 0 {
				t.Fatal("problem does not marshal")
			}
		})
	}
}
