package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/truce-project/truce/policy"
)

// SimPlatform is the name of the simulated platform.
const SimPlatform = "sim"

// CheckEnclave verifies a chain presented by an enclave (leaf first) against
// the policy at time now: it must chain to the PAS CA pinned in the policy
// (ErrBadChain), be usable for TLS server authentication, carry an identity
// for this policy's genesis hash (ErrPolicyMismatch: the policy's own hash,
// or for a successor the hash of the first policy of its chain, which the
// enclave started with; see docs/trust-lifecycle.md), with a measurement the policy
// lists for that platform (ErrUntrustedMeasurement), and be simulated only if
// the policy lists "sim" (ErrSimulated).
func CheckEnclave(chain []*x509.Certificate, pol *policy.Policy, now time.Time) (*Identity, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no certificate presented", ErrBadChain)
	}
	if pol == nil || pol.CACertificate() == nil {
		return nil, fmt.Errorf("%w: the policy pins no PAS CA certificate", ErrBadChain)
	}
	roots := x509.NewCertPool()
	roots.AddCert(pol.CACertificate())
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadChain, err)
	}
	id, err := IdentityOf(leaf)
	if err != nil {
		return nil, err
	}
	if want := pol.GenesisHash(); id.PolicyHash != want {
		return nil, fmt.Errorf("%w: certificate is for policy %x, this policy is %x", ErrPolicyMismatch, id.PolicyHash, want)
	}
	if id.Simulated && !listsPlatform(pol, SimPlatform) {
		return nil, fmt.Errorf("%w: the enclave runs on the simulated platform", ErrSimulated)
	}
	if id.Platform == SimPlatform && !id.Simulated {
		return nil, fmt.Errorf("%w: certificate claims platform sim without marking it simulated", ErrBadChain)
	}
	if !trusts(pol, id.Platform, id.Measurement) {
		return nil, fmt.Errorf("%w: %s measurement %s", ErrUntrustedMeasurement, id.Platform, hex.EncodeToString(id.Measurement))
	}
	return id, nil
}

func listsPlatform(pol *policy.Policy, platform string) bool {
	for _, r := range pol.Attestation.Runtimes {
		if r.Platform == platform {
			return true
		}
	}
	return false
}

// trusts reports whether the policy lists measurement for platform.
func trusts(pol *policy.Policy, platform string, m []byte) bool {
	for _, r := range pol.Attestation.Runtimes {
		if r.Platform != platform {
			continue
		}
		want, err := hex.DecodeString(r.Measurement)
		if err == nil && len(want) > 0 && bytes.Equal(want, m) {
			return true
		}
	}
	return false
}

// TrustsMeasurement reports whether the policy lists measurement m for the
// platform (the check the PAS and CheckEnclave make).
func TrustsMeasurement(pol *policy.Policy, platform string, m []byte) bool {
	return trusts(pol, platform, m)
}
