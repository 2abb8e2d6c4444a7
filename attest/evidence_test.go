package attest_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
)

// claimsVerifier returns fixed claims, or err, for any evidence.
type claimsVerifier struct {
	platform string
	claims   attest.Claims
	err      error
}

func (v claimsVerifier) Platform() string { return v.platform }
func (v claimsVerifier) Verify([]byte, attest.VerifyOptions) (*attest.Claims, error) {
	if v.err != nil {
		return nil, v.err
	}
	c := v.claims
	return &c, nil
}

// TestExplainEvidence: the one evidence check refuses each rule with a
// verdict of that rule, made at the time given, with the caller's hint
// where it gives one, and passes good evidence with its claims.
func TestExplainEvidence(t *testing.T) {
	ca := attesttest.NewCA(t)
	meas := bytes.Repeat([]byte{0x5a}, 48)
	pol := attesttest.Policy(t, attesttest.PolicyOptions{CACertPEM: ca.PEM(), Runtimes: []attesttest.Runtime{{Platform: "snp", Measurement: meas}}})
	key, nonce := []byte("enclave spki"), []byte("nonce")
	rd := attest.ReportData(key, pol.GenesisHash(), nonce)
	good := attest.Claims{Platform: "snp", Measurement: meas, ReportData: rd}
	enc := &attest.Identity{Platform: "snp", Measurement: meas}
	at := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	with := func(f func(c *attest.Claims)) attest.Claims {
		c := good
		f(&c)
		return c
	}
	check := func(v attest.Verifier, ev attest.EvidenceCheck) ([]attest.Step, *attest.Claims) {
		ev.Key, ev.PolicyHash, ev.Nonce = key, pol.GenesisHash(), nonce
		return attest.ExplainEvidence(v, pol, ev, at)
	}
	steps, claims := check(claimsVerifier{platform: "snp", claims: good}, attest.EvidenceCheck{Platform: "snp", Enclave: enc})
	if err := attest.Refusal(steps); err != nil || claims == nil || !bytes.Equal(claims.Measurement, meas) {
		t.Fatalf("good evidence: %v, %+v", err, claims)
	}
	for _, tc := range []struct {
		name     string
		v        attest.Verifier
		ev       attest.EvidenceCheck
		rule     string
		sentinel error
	}{
		{"verifier of another platform", claimsVerifier{platform: "tdx", claims: good}, attest.EvidenceCheck{Platform: "snp"}, attest.RulePlatform, attest.ErrUnsupportedPlatform},
		{"evidence does not verify", claimsVerifier{platform: "snp", err: attest.ErrBadEvidence}, attest.EvidenceCheck{Platform: "snp"}, attest.RuleEvidence, attest.ErrBadEvidence},
		{"claims of another platform", claimsVerifier{platform: "snp", claims: with(func(c *attest.Claims) { c.Platform = "tdx" })}, attest.EvidenceCheck{Platform: "snp"}, attest.RulePlatform, attest.ErrUnsupportedPlatform},
		{"other report data", claimsVerifier{platform: "snp", claims: with(func(c *attest.Claims) { c.ReportData[0] ^= 1 })}, attest.EvidenceCheck{Platform: "snp"}, attest.RuleBinding, attest.ErrBinding},
		{"measurement not the certificate's", claimsVerifier{platform: "snp", claims: good}, attest.EvidenceCheck{Platform: "snp", Enclave: &attest.Identity{Platform: "snp", Measurement: make([]byte, 48)}}, attest.RuleMeasurement, attest.ErrUntrustedMeasurement},
		{"measurement not in the policy", claimsVerifier{platform: "snp", claims: with(func(c *attest.Claims) { c.Measurement = make([]byte, 48) })}, attest.EvidenceCheck{Platform: "snp"}, attest.RuleMeasurement, attest.ErrUntrustedMeasurement},
		{"simulation not the certificate's", claimsVerifier{platform: "snp", claims: good}, attest.EvidenceCheck{Platform: "snp", Enclave: &attest.Identity{Platform: "snp", Measurement: meas, Simulated: true}}, attest.RuleSimulated, attest.ErrSimulated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ev.Hints = map[string]string{tc.rule: "the caller's hint"}
			steps, claims := check(tc.v, tc.ev)
			var v *attest.Verdict
			if !errors.As(attest.Refusal(steps), &v) || claims != nil {
				t.Fatalf("steps %+v, claims %+v: want a verdict and no claims", steps, claims)
			}
			if v.Rule != tc.rule || !errors.Is(v, tc.sentinel) || !v.At.Equal(at) || v.Hint != "the caller's hint" {
				t.Fatalf("verdict %+v, want rule %s at %s with the caller's hint", v, tc.rule, at)
			}
		})
	}
}
