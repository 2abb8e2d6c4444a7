package attest

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/truce-project/truce/policy"
)

// CheckEvidence checks an enclave's own evidence against the certificate
// it was certified with, the way every client does in direct mode and the
// audit bundle verifier does offline: the evidence must verify with v at
// time now, be of the platform enc names, bind leaf's key, the hash of the
// policy the enclave started with (pol's genesis hash) and nonce
// (ReportData), attest the measurement enc names, pass the policy's rules on
// runtimes (CheckRuntime: not revoked, pinned with its extra pins, TCB at
// least the policy's minimum), and agree with enc on simulation. enc is
// what CheckEnclave returned for the chain whose leaf is leaf. Errors wrap
// ErrBadEvidence, ErrBinding, ErrUntrustedMeasurement, ErrRevoked,
// ErrTCBTooLow, ErrUnsupportedPlatform or ErrSimulated.
func CheckEvidence(v Verifier, pol *policy.Policy, enc *Identity, leaf *x509.Certificate, evidence, nonce []byte, now time.Time) (*Claims, error) {
	if v == nil || enc == nil || leaf == nil || pol == nil {
		return nil, fmt.Errorf("%w: nothing to check the evidence against", ErrBadEvidence)
	}
	if enc.Platform != v.Platform() {
		return nil, fmt.Errorf("%w: evidence of platform %q, verifier for %q", ErrUnsupportedPlatform, enc.Platform, v.Platform())
	}
	claims, err := v.Verify(evidence, VerifyOptions{Now: now})
	if err != nil {
		return nil, err
	}
	if want := ReportData(leaf.RawSubjectPublicKeyInfo, pol.GenesisHash(), nonce); claims.ReportData != want {
		return nil, fmt.Errorf("%w: the evidence does not bind the enclave's key, this policy and nonce %x", ErrBinding, nonce)
	}
	if claims.Platform != enc.Platform {
		return nil, fmt.Errorf("%w: evidence of platform %q, certificate names %q", ErrBinding, claims.Platform, enc.Platform)
	}
	if !bytes.Equal(claims.Measurement, enc.Measurement) {
		return nil, fmt.Errorf("%w: evidence measurement %x, the certificate names %x", ErrUntrustedMeasurement, claims.Measurement, enc.Measurement)
	}
	if err := Refusal(CheckRuntime(pol, RuntimeOf(claims), now)); err != nil {
		return nil, err
	}
	if claims.Simulated != enc.Simulated {
		return nil, fmt.Errorf("%w: evidence and certificate disagree on simulation", ErrSimulated)
	}
	return claims, nil
}
