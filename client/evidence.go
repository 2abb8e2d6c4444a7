package client

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/truce-project/truce/attest"
)

// VerifyEvidence checks the enclave's own evidence with v, without relying
// on the attestation service (RA-TLS style): it fetches GET
// /v1/attestation and requires that the reported leaf certificate is the
// one this session verified, that the evidence verifies with v, binds that
// certificate's key, the policy hash and the reported nonce, names the
// measurement the certificate names, and passes the policy's rules on
// runtimes (attest.CheckRuntime: not revoked, pinned with every extra pin,
// TCB at least the policy's minimum). Refusals of the evidence are
// *attest.Verdict values wrapping the attest sentinels (ErrBadEvidence,
// ErrBinding, ErrUntrustedMeasurement, ErrRevoked, ErrTCBTooLow).
func (s *Session) VerifyEvidence(ctx context.Context, v attest.Verifier) (*attest.Claims, error) {
	steps, claims, err := s.ExplainEvidence(ctx, v)
	if err != nil {
		return nil, err
	}
	if err := attest.Refusal(steps); err != nil {
		return nil, err
	}
	return claims, nil
}

// ExplainEvidence makes the checks of VerifyEvidence and returns every
// step made, stopping at the first refusal, and the claims if every step
// passed. The error is for failures to fetch the evidence at all.
func (s *Session) ExplainEvidence(ctx context.Context, v attest.Verifier) ([]attest.Step, *attest.Claims, error) {
	a, err := s.Attestation(ctx)
	if err != nil {
		return nil, nil, err
	}
	enc, chain := s.Enclave()
	if enc == nil || len(chain) == 0 {
		return nil, nil, fmt.Errorf("%w: no verified connection yet", attest.ErrBadChain)
	}
	now := s.opts.Now()
	var steps []attest.Step
	step := func(name, detail string, verdict *attest.Verdict) bool {
		if verdict != nil {
			verdict.At = now
		}
		steps = append(steps, attest.Step{Name: name, Detail: detail, Verdict: verdict})
		return verdict == nil
	}
	const fetched = "evidence is for this connection"
	switch {
	case len(a.Chain) == 0 || !bytes.Equal(a.Chain[0], chain[0].Raw):
		step(fetched, "", &attest.Verdict{Rule: attest.RuleBinding, Claim: "certificate the evidence is for",
			Expected: "the certificate this connection verified", Actual: "another certificate",
			Hint: "the enclave renewed its certificate meanwhile: try again"})
		return steps, nil, nil
	case a.Platform != v.Platform():
		step(fetched, "", &attest.Verdict{Rule: attest.RulePlatform, Claim: "evidence platform", Expected: v.Platform(), Actual: a.Platform,
			Hint: "check the evidence with the verifier of the enclave's platform"})
		return steps, nil, nil
	}
	step(fetched, fmt.Sprintf("%s evidence, %d bytes, nonce %x, for the certificate this connection verified", a.Platform, len(a.Evidence), a.Nonce), nil)
	claims, err := v.Verify(a.Evidence, attest.VerifyOptions{Now: now})
	if err != nil {
		step("signature and vendor chain", "", &attest.Verdict{Rule: attest.RuleEvidence, Claim: a.Platform + " evidence",
			Expected: "a signature and vendor chain valid at " + now.UTC().Format(time.RFC3339), Actual: err.Error(),
			Hint: "the enclave's own evidence does not verify: report it to the host's operator; do not use this enclave"})
		return steps, nil, nil
	}
	detail := fmt.Sprintf("verified at %s", now.UTC().Format(time.RFC3339))
	for _, f := range claims.Collateral {
		detail += "; " + f.At(now)
	}
	step("signature and vendor chain", detail, nil)
	leaf, err := x509.ParseCertificate(a.Chain[0])
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", attest.ErrBadChain, err)
	}
	if want := attest.ReportData(leaf.RawSubjectPublicKeyInfo, s.pol.GenesisHash(), a.Nonce); claims.ReportData != want {
		step("report data binds key, policy and nonce", "", &attest.Verdict{Rule: attest.RuleBinding, Claim: "report data", Expected: hex.EncodeToString(want[:]),
			Actual: hex.EncodeToString(claims.ReportData[:]), Collateral: claims.Collateral,
			Hint: fmt.Sprintf("the evidence does not bind the enclave's key, this policy and nonce %x: do not use this enclave", a.Nonce)})
		return steps, nil, nil
	}
	step("report data binds key, policy and nonce", "SHA-512(truce-attest-v1 ‖ SHA-256(enclave key) ‖ policy hash ‖ nonce)", nil)
	if !bytes.Equal(claims.Measurement, enc.Measurement) {
		step("measurement as in the certificate", "", &attest.Verdict{Rule: attest.RuleMeasurement, Claim: claims.Platform + " measurement",
			Expected: hex.EncodeToString(enc.Measurement) + " (the certificate's)", Actual: hex.EncodeToString(claims.Measurement), Collateral: claims.Collateral,
			Hint: "the evidence and the certificate name different runtimes: do not use this enclave"})
		return steps, nil, nil
	}
	step("measurement as in the certificate", hex.EncodeToString(claims.Measurement), nil)
	for _, st := range attest.CheckRuntime(s.pol, attest.RuntimeOf(claims), now) {
		if !step(st.Name, st.Detail, st.Verdict) {
			return steps, nil, nil
		}
	}
	if claims.Simulated != enc.Simulated {
		step("simulation as in the certificate", "", &attest.Verdict{Rule: attest.RuleSimulated, Claim: "simulated", Expected: fmt.Sprint(enc.Simulated) + " (the certificate's)",
			Actual: fmt.Sprint(claims.Simulated), Hint: "the evidence and the certificate disagree on simulation: do not use this enclave"})
		return steps, nil, nil
	}
	step("simulation as in the certificate", fmt.Sprintf("simulated: %t", claims.Simulated), nil)
	return steps, claims, nil
}
