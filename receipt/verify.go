package receipt

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/truce-project/truce/policy"
)

// ChainChecker decides whether an enclave certificate chain (leaf first) is
// one pol trusts at time at. Verify uses CheckChain unless it is replaced;
// the attestation package installs its full check (platform, measurement
// and policy hash in the certificate extension) at init.
var ChainChecker func(chain []*x509.Certificate, pol *policy.Policy, at time.Time) error = CheckChain

// CheckChain verifies that chain[0] chains, through the intermediates in
// chain, to the attestation service CA pinned in pol, at time at.
func CheckChain(chain []*x509.Certificate, pol *policy.Policy, at time.Time) error {
	ca := pol.CACertificate()
	if ca == nil {
		return fmt.Errorf("%w: the policy pins no attestation service CA", ErrChain)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return fmt.Errorf("%w: %v", ErrChain, err)
	}
	return nil
}

// Verify checks a receipt fully: the signature against the leaf certificate,
// the chain against pol's attestation service at the receipt's Finished
// time, and that the receipt names pol's hash. now is not used for the
// chain (a receipt stays valid after its enclave certificate expires) but a
// receipt finished after now is refused.
func Verify(r *Receipt, pol *policy.Policy, now time.Time) error {
	if _, err := VerifySignature(r); err != nil {
		return err
	}
	if r.PolicyHash != pol.HashHex() {
		return fmt.Errorf("%w: receipt names %s, the policy's hash is %s", ErrPolicy, r.PolicyHash, pol.HashHex())
	}
	if r.Finished.After(now.Add(5 * time.Minute)) {
		return fmt.Errorf("receipt finished at %s, in the future", r.Finished.Format(time.RFC3339))
	}
	chain := make([]*x509.Certificate, 0, len(r.Chain))
	for i, der := range r.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("%w: certificate %d: %v", ErrChain, i, err)
		}
		chain = append(chain, c)
	}
	return ChainChecker(chain, pol, r.Finished)
}
