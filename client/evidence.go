package client

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"

	"github.com/truce-project/truce/attest"
)

// VerifyEvidence checks the enclave's own evidence with v, without relying
// on the attestation service (RA-TLS style): it fetches GET
// /v1/attestation and requires that the reported leaf certificate is the
// one this session verified, that the evidence verifies with v, attests a
// measurement the policy trusts (the one the certificate names) and binds
// that certificate's key, the policy hash and the reported nonce. Errors
// wrap the attest sentinels (ErrBadEvidence, ErrBinding,
// ErrUntrustedMeasurement).
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
	claims, err := v.Verify(a.Evidence, attest.VerifyOptions{Now: s.opts.Now()})
	if err != nil {
		return nil, fmt.Errorf("the enclave's evidence: %w", err)
	}
	leaf, err := x509.ParseCertificate(a.Chain[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", attest.ErrBadChain, err)
	}
	if want := attest.ReportData(leaf.RawSubjectPublicKeyInfo, s.pol.Hash(), a.Nonce); claims.ReportData != want {
		return nil, fmt.Errorf("%w: the evidence does not bind the enclave's key, this policy and nonce %x", attest.ErrBinding, a.Nonce)
	}
	if !bytes.Equal(claims.Measurement, enc.Measurement) || !attest.TrustsMeasurement(s.pol, claims.Platform, claims.Measurement) {
		return nil, fmt.Errorf("%w: evidence measurement %x", attest.ErrUntrustedMeasurement, claims.Measurement)
	}
	if claims.Simulated != enc.Simulated {
		return nil, fmt.Errorf("%w: evidence and certificate disagree on simulation", attest.ErrSimulated)
	}
	return claims, nil
}
