package platformtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/attest/nitro"
	"github.com/truce-project/truce/attest/nitro/nitrotest"
	"github.com/truce-project/truce/attest/psa"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/sgx/sgxtest"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/pastest"
	"github.com/truce-project/truce/internal/paswire"
	nitroprovider "github.com/truce-project/truce/internal/provider/nitro"
	psaprovider "github.com/truce-project/truce/internal/provider/psa"
	sgxprovider "github.com/truce-project/truce/internal/provider/sgx"
	truntime "github.com/truce-project/truce/internal/runtime"
	"github.com/truce-project/truce/policy"
)

// platform is one platform's provider over a fake device, the verifier
// the service is configured with, and the measurement the device reports.
type platform struct {
	name        string
	provider    attest.Provider
	verifier    attest.Verifier
	measurement []byte
	extra       map[string][]byte
	recorded    []byte // real evidence from public sources, bound to nothing of ours
}

func testdata(t *testing.T, rel string) []byte { return testdataB(t, rel) }

func testdataB(t testing.TB, rel string) []byte {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func platforms(t *testing.T) []platform {
	now := time.Now()
	nsm, err := nitrotest.NewAt(now)
	if err != nil {
		t.Fatal(err)
	}
	realQuote := testdata(t, "sgx/testdata/quote-v3.bin")
	q, err := sgx.ParseQuote(realQuote)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := sgxtest.NewAt(now, realQuote, q.PCKChain[0])
	if err != nil {
		t.Fatal(err)
	}
	mrenclave := [32]byte{0xe1, 0xe2}
	gramine := &sgxtest.Gramine{Type: "dcap", Quoter: func(rd [64]byte) []byte {
		return sp.Quote(sgxtest.Report{MRENCLAVE: mrenclave, MRSIGNER: [32]byte{0x51}, Flags: sgx.FlagInit | sgx.FlagMode64Bit, XFRM: 3, ReportData: rd}.Body(), nil)
	}}
	iak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rtMeas := make([]byte, 32)
	rtMeas[0] = 0x77
	signer := make([]byte, 32)
	signer[0] = 0x88
	src := psaprovider.SoftwareIAK{Key: iak, ImplementationID: make([]byte, 32), Components: []psa.Component{
		{Type: "BL", Measurement: make([]byte, 32), SignerID: signer},
		{Type: psa.RuntimeComponent, Measurement: rtMeas, SignerID: signer},
	}}
	return []platform{
		{"nitro", &nitroprovider.Provider{Device: nsm, PublicKey: []byte("spki")}, nitro.Verifier{Roots: nsm.Roots()}, nsm.PCRs[0],
			map[string][]byte{"pcr1": nsm.PCRs[1], "pcr2": nsm.PCRs[2]}, testdata(t, "nitro/testdata/attestation.cbor")},
		{"sgx", &sgxprovider.Provider{Files: gramine}, sgx.Verifier{Root: sp.Root.Cert}, mrenclave[:],
			map[string][]byte{"mrsigner": append([]byte{0x51}, make([]byte, 31)...)}, realQuote},
		{"psa", psaprovider.Provider{Source: src}, psa.Verifier{Key: &iak.PublicKey}, rtMeas,
			map[string][]byte{"signer_id": signer}, testdata(t, "psa/testdata/tfm-p2-sign1.cbor")},
	}
}

// policyFor is a policy pinning the service's CA and trusting m (with the
// extra pins given) on the platform.
func policyFor(t *testing.T, srv *pastest.Server, platform string, m []byte, extra map[string][]byte) []byte {
	t.Helper()
	b := attesttest.PolicyBytes(t, attesttest.PolicyOptions{CACertPEM: srv.CAPEM(), Service: srv.URL,
		Runtimes: []attesttest.Runtime{{Platform: platform, Measurement: m}}})
	if len(extra) == 0 {
		return b
	}
	// Add the extra pins to the one runtime entry.
	s := string(b)
	var pins []string
	for k, v := range extra {
		pins = append(pins, `"`+k+`": "`+hexs(v)+`"`)
	}
	i := strings.Index(s, `"platform": "`+platform+`"`)
	if i < 0 {
		t.Fatal("policy has no runtime entry")
	}
	s = s[:i] + `"extra": {` + strings.Join(pins, ", ") + `}, ` + s[i:]
	if _, err := policy.Parse([]byte(s), time.Time{}); err != nil {
		t.Fatalf("policy with extra pins: %v\n%s", err, s)
	}
	return []byte(s)
}

func hexs(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestWholeFlowPerPlatform(t *testing.T) {
	ctx := context.Background()
	for _, p := range platforms(t) {
		t.Run(p.name, func(t *testing.T) {
			srv := pastest.Start(t, pastest.Options{RefuseSim: true,
				Config: pas.Config{Verifiers: map[string]attest.Verifier{p.name: p.verifier}}})
			polBytes := policyFor(t, srv, p.name, p.measurement, p.extra)
			pol, err := policy.Parse(polBytes, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			rt, err := truntime.New(truntime.Config{Policy: pol, Provider: p.provider})
			if err != nil {
				t.Fatal(err)
			}
			attestOnce := func(evidence []byte) ([][]byte, error) {
				nonce, err := srv.Client().Nonce(ctx)
				if err != nil {
					return nil, err
				}
				ev, csr, err := rt.Attest(ctx, nonce)
				if err != nil {
					return nil, err
				}
				if evidence != nil {
					ev = evidence
				}
				chain, err := srv.Client().Attest(ctx, paswire.AttestRequest{Platform: p.name, Evidence: ev, CSR: csr, Nonce: nonce, Policy: polBytes})
				if err != nil {
					return nil, err
				}
				var der [][]byte
				for _, c := range chain {
					der = append(der, c.Raw)
				}
				return der, nil
			}
			der, err := attestOnce(nil)
			if err != nil {
				t.Fatalf("attestation: %v", err)
			}
			if _, err := rt.SetCertificate(der); err != nil {
				t.Fatalf("runtime refused its certificate: %v", err)
			}
			chain, err := parseChain(der)
			if err != nil {
				t.Fatal(err)
			}
			id, err := attest.CheckEnclave(chain, pol, time.Now())
			if err != nil {
				t.Fatalf("client check: %v", err)
			}
			if id.Platform != p.name || id.Simulated || hexs(id.Measurement) != hexs(p.measurement) {
				t.Fatalf("identity %+v", id)
			}
			// Real evidence from public sources is refused: it is bound to
			// someone else's key and nonce (and here not signed by the
			// fake device's roots either).
			if _, err := attestOnce(p.recorded); err == nil {
				t.Fatal("recorded evidence accepted for our key and nonce")
			}
			// A policy trusting another measurement is refused.
			other := append([]byte{^p.measurement[0]}, p.measurement[1:]...)
			otherPol := policyFor(t, srv, p.name, other, nil)
			pol2, _ := policy.Parse(otherPol, time.Now())
			rt2, err := truntime.New(truntime.Config{Policy: pol2, Provider: p.provider})
			if err != nil {
				t.Fatal(err)
			}
			nonce, _ := srv.Client().Nonce(ctx)
			ev, csr, err := rt2.Attest(ctx, nonce)
			if err != nil {
				t.Fatal(err)
			}
			_, err = srv.Client().Attest(ctx, paswire.AttestRequest{Platform: p.name, Evidence: ev, CSR: csr, Nonce: nonce, Policy: otherPol})
			if !errors.Is(err, attest.ErrUntrustedMeasurement) {
				t.Fatalf("untrusted measurement: %v", err)
			}
		})
	}
}
