package client

import (
	"bytes"
	"context"
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
	if a.Platform != enc.Platform {
		return nil, fmt.Errorf("%w: the enclave reports evidence of platform %q, its certificate names %q", attest.ErrBinding, a.Platform, enc.Platform)
	}
	claims, err := attest.CheckEvidence(v, s.pol, enc, chain[0], a.Evidence, a.Nonce, s.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("the enclave's evidence: %w", err)
	}
	return claims, nil
}
