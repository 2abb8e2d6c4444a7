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
	case a.Platform != enc.Platform:
		step(fetched, "", &attest.Verdict{Rule: attest.RulePlatform, Claim: "evidence platform", Expected: enc.Platform + " (the certificate's)", Actual: a.Platform,
			Hint: "the enclave reports evidence of another platform than its certificate names: do not use this enclave"})
		return steps, nil, nil
	}
	step(fetched, fmt.Sprintf("%s evidence, %d bytes, nonce %x, for the certificate this connection verified", a.Platform, len(a.Evidence), a.Nonce), nil)
	more, claims := attest.ExplainEvidence(v, s.pol, attest.EvidenceCheck{Platform: enc.Platform, Evidence: a.Evidence,
		Key: chain[0].RawSubjectPublicKeyInfo, PolicyHash: s.pol.GenesisHash(), Nonce: a.Nonce, Enclave: enc}, now)
	steps = append(steps, more...)
	return steps, claims, nil
}
