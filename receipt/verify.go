package receipt

import (
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/policy"
)

// checkPolicyChain checks the receipt's chain of policy hashes fits pol:
// none for a first policy; for a successor, as many hashes as its place in
// the chain, starting at its genesis hash (which the certificate binds)
// and ending at its own hash. The links' approvals are checked with
// package succession against the enclave's chain; a receipt only names it.
func checkPolicyChain(r *Receipt, pol *policy.Policy) error {
	n := pol.Sequence()
	if n == 0 {
		if len(r.PolicyChain) != 0 {
			return fmt.Errorf("%w: receipt names a chain of %d policies, the policy is a first policy", ErrPolicy, len(r.PolicyChain))
		}
		return nil
	}
	g := pol.GenesisHash()
	if len(r.PolicyChain) != n+1 || r.PolicyChain[0] != hex.EncodeToString(g[:]) || r.PolicyChain[n] != pol.HashHex() ||
		r.PolicyChain[n-1] != pol.Lifecycle.Predecessor.Policy {
		return fmt.Errorf("%w: receipt's policy chain %v does not lead from %x to %s", ErrPolicy, r.PolicyChain, g, pol.HashHex())
	}
	return nil
}

// Verify checks a receipt fully: the signature against the leaf
// certificate; the chain with attest.CheckEnclave (PAS CA, platform,
// measurement and policy hash in the certificate) at the receipt's Finished
// time, so a receipt stays verifiable after its short-lived enclave
// certificate expires; that the receipt names pol's hash; and, for a
// successor policy, that its policy chain leads from pol's genesis hash
// (which the certificate binds) to pol (checkPolicyChain); and that a
// folded receipt carries only success or failure (ErrFolded). A receipt
// finished more than five minutes after now is refused.
func Verify(r *Receipt, pol *policy.Policy, now time.Time) error {
	if _, err := VerifySignature(r); err != nil {
		return err
	}
	if r.PolicyHash != pol.HashHex() {
		return fmt.Errorf("%w: receipt names %s, the policy's hash is %s", ErrPolicy, r.PolicyHash, pol.HashHex())
	}
	if err := checkPolicyChain(r, pol); err != nil {
		return err
	}
	if err := checkFolded(r); err != nil {
		return err
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
	if _, err := attest.CheckEnclave(chain, pol, r.Finished); err != nil {
		return fmt.Errorf("%w: %w", ErrChain, err)
	}
	return nil
}
