// Package succession decides whether a policy may succeed another in a
// running enclave: it defines the approval message principals sign, reads
// proposal files, signs approvals, and checks a successor against its base
// policy and a whole chain of policies against the hash an enclave's
// certificate binds. docs/spec/lifecycle.md specifies every rule here so
// that an auditor can check a chain independently.
//
// It must never accept a successor that the base policy's quorum did not
// approve, never count a signer twice or a signer outside the quorum, and
// never read anything but the bytes it is given.
package succession

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/policy"
)

// Domain starts every approval message; the NUL ends it, so no other
// signed format of Truce can be read as an approval.
const Domain = "truce-policy-approval-v1\x00"

// ProposalVersion is the proposal format this package reads and writes.
const ProposalVersion = 1

// MaxProposal is the largest proposal accepted, in bytes: two policies
// in base64 and approvals.
const MaxProposal = 3*policy.MaxSize + 1<<20

// MaxApprovals bounds the approvals a proposal may carry.
const MaxApprovals = 256

// Errors callers branch on; every refusal wraps exactly one.
var (
	// ErrFrozen: the base policy names no quorum, so it has no successor.
	ErrFrozen = errors.New("the policy has no quorum rule, so it never changes")
	// ErrNotSuccessor: the proposed policy does not name the base as its
	// predecessor (hash, genesis or sequence), or the base is not the
	// enclave's current policy.
	ErrNotSuccessor = errors.New("not a successor of the base policy")
	// ErrFixedField: the successor changes what must stay fixed in a
	// chain (attestation, host, file limits) or expires later.
	ErrFixedField = errors.New("the successor changes what a chain keeps fixed")
	// ErrOutsider: an approval is signed by someone outside the base
	// policy's quorum.
	ErrOutsider = errors.New("approval by a principal outside the quorum")
	// ErrDuplicate: one principal approved twice.
	ErrDuplicate = errors.New("the same principal approved twice")
	// ErrSignature: an approval's signature does not verify, or its
	// signer's certificate is not valid now.
	ErrSignature = errors.New("approval signature does not verify")
	// ErrNoQuorum: fewer distinct valid approvals than the threshold.
	ErrNoQuorum = errors.New("not enough approvals for the quorum")
	// ErrOwnerConsent: the successor carries over files under a budget or
	// hold of the base policy without the approval of its owner.
	ErrOwnerConsent = errors.New("carrying over budgeted or held data needs its owners' approval")
	// ErrMalformed: the proposal file or chain is not well-formed.
	ErrMalformed = errors.New("malformed proposal")
)

// Message returns the bytes an approval signs: Domain, then the policy
// hash of the base, then that of the successor (32 bytes each).
func Message(base, next [32]byte) []byte {
	m := make([]byte, 0, len(Domain)+64)
	m = append(m, Domain...)
	m = append(m, base[:]...)
	return append(m, next[:]...)
}

// digest is what the ECDSA signature is over: SHA-256 of Message.
func digest(base, next [32]byte) []byte {
	d := sha256.Sum256(Message(base, next))
	return d[:]
}

// ParseProposal reads a proposal strictly: one JSON object of at most
// MaxProposal bytes, no unknown fields, version ProposalVersion, both
// policies present, at most MaxApprovals approvals each with a signer and
// a signature. It does not parse the policies nor check signatures.
func ParseProposal(b []byte) (*api.PolicyProposal, error) {
	if len(b) > MaxProposal {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d allowed", ErrMalformed, len(b), MaxProposal)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p api.PolicyProposal
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the proposal object", ErrMalformed)
	}
	switch {
	case p.Version != ProposalVersion:
		return nil, fmt.Errorf("%w: version %d, this truce reads version %d", ErrMalformed, p.Version, ProposalVersion)
	case len(p.Base) == 0:
		return nil, fmt.Errorf("%w: no base policy", ErrMalformed)
	case len(p.Policy) == 0:
		return nil, fmt.Errorf("%w: no successor policy", ErrMalformed)
	case len(p.Approvals) > MaxApprovals:
		return nil, fmt.Errorf("%w: %d approvals, at most %d", ErrMalformed, len(p.Approvals), MaxApprovals)
	}
	for i, a := range p.Approvals {
		if a.Signer == "" || len(a.Signature) == 0 || len(a.Signature) > 128 {
			return nil, fmt.Errorf("%w: approval %d needs a signer and a signature of at most 128 bytes", ErrMalformed, i)
		}
	}
	return &p, nil
}

// Encode writes a proposal as indented JSON with a trailing newline.
func Encode(p *api.PolicyProposal) []byte {
	b, _ := json.MarshalIndent(p, "", "  ") // only []byte and strings: cannot fail
	return append(b, '\n')
}

// Propose makes a proposal of next as successor of base, without
// approvals. next must name base as its predecessor (see Check).
func Propose(base, next *policy.Policy) (*api.PolicyProposal, error) {
	if err := checkShape(base, next); err != nil {
		return nil, err
	}
	return &api.PolicyProposal{Version: ProposalVersion, Base: base.Bytes(), Policy: next.Bytes(), Approvals: []api.PolicyApproval{}}, nil
}

// Sign adds id's approval of next succeeding base to p, replacing an
// earlier approval by the same principal. id must be a principal of base
// named in its quorum; its name in the approval is its name in base.
func Sign(p *api.PolicyProposal, base, next *policy.Policy, id *identity.Identity) error {
	if err := checkShape(base, next); err != nil {
		return err
	}
	pr := base.PrincipalByCert(id.Cert.Raw)
	if pr == nil {
		return fmt.Errorf("%w: the certificate of %q is not a principal's of the base policy", ErrOutsider, id.Name)
	}
	if !slices.Contains(base.Quorum().Of, pr.Name) {
		return fmt.Errorf("%w: %s is not in the quorum (%v)", ErrOutsider, pr.Name, base.Quorum().Of)
	}
	sig, err := id.Key.Sign(rand.Reader, digest(base.Hash(), next.Hash()), crypto.SHA256)
	if err != nil {
		return fmt.Errorf("signing the approval: %w", err)
	}
	p.Approvals = slices.DeleteFunc(p.Approvals, func(a api.PolicyApproval) bool { return a.Signer == pr.Name })
	p.Approvals = append(p.Approvals, api.PolicyApproval{Signer: pr.Name, Signature: sig})
	return nil
}

// checkShape makes the checks that need no signatures: steps 1 to 3 of
// Check.
func checkShape(base, next *policy.Policy) error {
	q := base.Quorum()
	if q == nil {
		return fmt.Errorf("%w: policy %s has no lifecycle.quorum", ErrFrozen, base.HashHex())
	}
	lc := next.Lifecycle
	if lc == nil || lc.Predecessor == nil {
		return fmt.Errorf("%w: the proposed policy has no lifecycle.predecessor", ErrNotSuccessor)
	}
	pd := lc.Predecessor
	gh := base.GenesisHash()
	switch {
	case pd.Policy != base.HashHex():
		return fmt.Errorf("%w: it names predecessor %s, the base policy is %s", ErrNotSuccessor, pd.Policy, base.HashHex())
	case pd.Genesis != hex.EncodeToString(gh[:]):
		return fmt.Errorf("%w: it names genesis %s, the base policy's chain starts at %x", ErrNotSuccessor, pd.Genesis, gh)
	case pd.Sequence != base.Sequence()+1:
		return fmt.Errorf("%w: it has sequence %d, the base policy has %d", ErrNotSuccessor, pd.Sequence, base.Sequence())
	}
	ab, _ := json.Marshal(base.Attestation)
	an, _ := json.Marshal(next.Attestation)
	switch {
	case !bytes.Equal(ab, an):
		return fmt.Errorf("%w: the attestation section differs; the enclave's certificate binds the first policy's attestation service and measurements: start a new enclave to change them", ErrFixedField)
	case base.Host != next.Host:
		return fmt.Errorf("%w: host %q differs from %q; clients reach the enclave where the first policy says", ErrFixedField, next.Host, base.Host)
	case next.Expires.After(base.Expires):
		return fmt.Errorf("%w: it expires at %s, after the base policy (%s); the enclave's certificate cannot outlive the first policy", ErrFixedField, next.Expires.UTC().Format(time.RFC3339), base.Expires.UTC().Format(time.RFC3339))
	case next.Limits.File() != base.Limits.File() || next.Limits.Total() != base.Limits.Total():
		return fmt.Errorf("%w: limits.file_mib and limits.total_mib must stay as they are (the file system keeps its size limits)", ErrFixedField)
	}
	return nil
}

// Check decides whether next may succeed base with approvals at time now.
// The checks, in order (the first failing one is reported):
//
//  1. base names a quorum (ErrFrozen);
//  2. next names base as predecessor: its hash, base's genesis hash, and
//     base's sequence plus one (ErrNotSuccessor);
//  3. next keeps attestation, host and file limits, and expires no later
//     (ErrFixedField);
//  4. each approval, in order: its signer is in base's quorum
//     (ErrOutsider), has not approved before (ErrDuplicate), and its
//     signature verifies with the key of its certificate in base, which
//     is valid at now (ErrSignature);
//  5. the distinct signers reach base's threshold (ErrNoQuorum);
//  6. each path next carries over that overlaps a budget or hold of base
//     was approved by that budget's principal or every releaser of that
//     hold (ErrOwnerConsent).
//
// It returns the signers' names, sorted.
func Check(base, next *policy.Policy, approvals []api.PolicyApproval, now time.Time) ([]string, error) {
	if err := checkShape(base, next); err != nil {
		return nil, err
	}
	q := base.Quorum()
	d := digest(base.Hash(), next.Hash())
	signed := map[string]bool{}
	for i, a := range approvals {
		if !slices.Contains(q.Of, a.Signer) {
			return nil, fmt.Errorf("%w: approval %d is by %q; the quorum is %d of %v", ErrOutsider, i, a.Signer, q.Threshold, q.Of)
		}
		if signed[a.Signer] {
			return nil, fmt.Errorf("%w: %s (approval %d)", ErrDuplicate, a.Signer, i)
		}
		c := base.Principal(a.Signer).Certificate()
		pub, ok := c.PublicKey.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() || !ecdsa.VerifyASN1(pub, d, a.Signature) {
			return nil, fmt.Errorf("%w: approval %d by %s is not a signature of %s over succession %s → %s", ErrSignature, i, a.Signer, a.Signer, base.HashHex(), next.HashHex())
		}
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return nil, fmt.Errorf("%w: the certificate of %s is not valid at %s", ErrSignature, a.Signer, now.UTC().Format(time.RFC3339))
		}
		signed[a.Signer] = true
	}
	if len(signed) < q.Threshold {
		return nil, fmt.Errorf("%w: %d of %v approved, %d needed", ErrNoQuorum, len(signed), q.Of, q.Threshold)
	}
	if err := checkConsent(base, next, signed); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(signed))
	for n := range signed {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

// checkConsent is step 6 of Check.
func checkConsent(base, next *policy.Policy, signed map[string]bool) error {
	for _, c := range next.Lifecycle.CarryOver {
		for _, pr := range base.Principals {
			for g := range pr.Budgets {
				if policy.Overlaps(c, g) && !signed[pr.Name] {
					return fmt.Errorf("%w: carry_over %s overlaps the budget of %s on %s, and %s did not approve", ErrOwnerConsent, c, pr.Name, g, pr.Name)
				}
			}
		}
		for _, h := range base.Holds {
			if !policy.Overlaps(c, h.Path) {
				continue
			}
			for _, n := range h.ReleaseBy {
				if !signed[n] {
					return fmt.Errorf("%w: carry_over %s overlaps the hold on %s, and its releaser %s did not approve", ErrOwnerConsent, c, h.Path, n)
				}
			}
		}
	}
	return nil
}

// VerifyChain checks an enclave's chain of policies at time now: the
// first link is a policy without predecessor whose hash is bound (the hash
// the enclave's certificate binds), each link's SHA256 is the hash of its
// bytes, the first has no approvals, and each later one passes Check
// against the one before. It returns the parsed policies, first to last.
func VerifyChain(links []api.PolicyLink, bound [32]byte, now time.Time) ([]*policy.Policy, error) {
	if len(links) == 0 {
		return nil, fmt.Errorf("%w: empty policy chain", ErrMalformed)
	}
	pols := make([]*policy.Policy, 0, len(links))
	for i, l := range links {
		h := policy.Hash(l.Policy)
		if l.SHA256 != hex.EncodeToString(h[:]) {
			return nil, fmt.Errorf("%w: link %d names hash %s, its policy hashes to %x", ErrMalformed, i, l.SHA256, h)
		}
		p, err := policy.Parse(l.Policy, now)
		if err != nil {
			return nil, fmt.Errorf("link %d (%s): %w", i, l.SHA256, err)
		}
		if i == 0 {
			if p.Hash() != bound {
				return nil, fmt.Errorf("%w: the chain starts at %s, the enclave's certificate binds %x", ErrNotSuccessor, l.SHA256, bound)
			}
			if p.Sequence() != 0 || len(l.Approvals) != 0 {
				return nil, fmt.Errorf("%w: the first link must be a first policy, without predecessor or approvals", ErrMalformed)
			}
		} else if _, err := Check(pols[i-1], p, l.Approvals, now); err != nil {
			return nil, fmt.Errorf("link %d (%s): %w", i, l.SHA256, err)
		}
		pols = append(pols, p)
	}
	return pols, nil
}
