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
	a, err := s.Attestation(ctx)
	if err != nil {
		return nil, err
	}
	enc, chain := s.Enclave()
	if enc == nil || len(chain) == 0 {
		return nil, fmt.Errorf("%w: no verified connection yet", attest.ErrBadChain)
	}
	if len(a.Chain) == 0 || !bytes.Equal(a.Chain[0], chain[0].Raw) {
		return nil, fmt.Errorf("%w: the enclave reports another certificate than the one it presented (renewed meanwhile? try again)", attest.ErrBinding)
	}
	if a.Platform != v.Platform() {
		return nil, fmt.Errorf("%w: evidence of platform %q, verifier for %q", attest.ErrUnsupportedPlatform, a.Platform, v.Platform())
	}
	now := s.opts.Now()
	claims, err := v.Verify(a.Evidence, attest.VerifyOptions{Now: now})
	if err != nil {
		return nil, fmt.Errorf("the enclave's evidence: %w", &attest.Verdict{Rule: attest.RuleEvidence, Claim: a.Platform + " evidence",
			Expected: "a signature and vendor chain valid at " + now.UTC().Format(time.RFC3339), Actual: err.Error(), At: now,
			Hint: "the enclave's own evidence does not verify: report it to the host's operator; do not use this enclave"})
	}
	leaf, err := x509.ParseCertificate(a.Chain[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", attest.ErrBadChain, err)
	}
	if want := attest.ReportData(leaf.RawSubjectPublicKeyInfo, s.pol.Hash(), a.Nonce); claims.ReportData != want {
		return nil, &attest.Verdict{Rule: attest.RuleBinding, Claim: "report data", Expected: hex.EncodeToString(want[:]),
			Actual: hex.EncodeToString(claims.ReportData[:]), Collateral: claims.Collateral, At: now,
			Hint: fmt.Sprintf("the evidence does not bind the enclave's key, this policy and nonce %x: do not use this enclave", a.Nonce)}
	}
	if !bytes.Equal(claims.Measurement, enc.Measurement) {
		return nil, &attest.Verdict{Rule: attest.RuleMeasurement, Claim: claims.Platform + " measurement", Expected: hex.EncodeToString(enc.Measurement) + " (the certificate's)",
			Actual: hex.EncodeToString(claims.Measurement), Collateral: claims.Collateral, At: now,
			Hint: "the evidence and the certificate name different runtimes: do not use this enclave"}
	}
	if err := attest.Refusal(attest.CheckRuntime(s.pol, attest.RuntimeOf(claims), now)); err != nil {
		return nil, err
	}
	if claims.Simulated != enc.Simulated {
		return nil, &attest.Verdict{Rule: attest.RuleSimulated, Claim: "simulated", Expected: fmt.Sprint(enc.Simulated) + " (the certificate's)",
			Actual: fmt.Sprint(claims.Simulated), At: now, Hint: "the evidence and the certificate disagree on simulation: do not use this enclave"}
	}
	return claims, nil
}
