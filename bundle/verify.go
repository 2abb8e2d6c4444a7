package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
	"github.com/truce-project/truce/receipt"
)

// maxChain bounds the enclave certificate chain, as the runtime does.
const maxChain = 8

// Options tune Verify. The zero value checks everything but needs a
// Verifier.
type Options struct {
	// Verifier checks the enclave's evidence: the same verifier code
	// clients and the attestation service run (for sim, one holding the
	// simulated device's public key).
	Verifier attest.Verifier
	// SkipEvidence checks everything but the evidence; the report says
	// so. For checking a bundle one has just made from an enclave whose
	// certificate one has verified.
	SkipEvidence bool
}

// Report is what a verified bundle shows.
type Report struct {
	// Digest is the bundle's digest; Exporter and Exported who made it
	// and when, by its own clock.
	Digest   string
	Exporter string
	Exported time.Time
	// Chain is the enclave's chain of policies, first to last; Policy is
	// the last, the one in force at the checkpoint.
	Chain  []Link
	Policy *policy.Policy
	// Enclave is what its certificate states; Leaf is that certificate.
	Enclave *attest.Identity
	Leaf    *x509.Certificate
	// KeyHash is the hex SHA-256 of the enclave key (its SPKI DER).
	KeyHash string
	// Evidence holds what the evidence attests; nil if not checked.
	Evidence *attest.Claims
	// Checkpoint is the enclave's signed checkpoint of its audit log,
	// whose time is when every certificate was checked.
	Checkpoint *audit.Checkpoint
	// Entries is the audit log: from entry Checkpoint.From (0, or the
	// first the enclave still held, the older ones folded away) to
	// Checkpoint.Size-1.
	Entries []audit.Entry
	// Runs are the runs and pipelines of the audit log, in order.
	Runs []Run
}

// Link is one policy of a verified chain.
type Link struct {
	Policy *policy.Policy
	// ApprovedBy names the principals of the policy before whose
	// approvals made this one succeed it, in the order given; none for
	// the first policy.
	ApprovedBy []string
	// Seq is the seq of the audit entry recording the change to this
	// policy; -1 for the first policy, and for a change recorded in
	// entries folded away before the bundle's first (the chain's
	// approvals still prove it).
	Seq int64
}

// Run is one run or pipeline of the audit log with its receipt.
type Run struct {
	// Entry is the audit entry recording it: who asked, when, outcome.
	Entry audit.Entry
	// Policy is the index in Report.Chain of the policy it ran under.
	Policy int
	// Digest is the hex digest of its receipt, as the entry names it.
	Digest string
	// Receipt is the verified receipt; nil if withheld from the exporter.
	Receipt *receipt.Receipt
}

// Verify checks every part of b against the others and against the
// policies it carries, offline, and returns what it shows. The steps, in
// order, are those of docs/spec/bundle.md; the first that fails
// ends the check with an error wrapping one of the Err* sentinels.
func Verify(b *Bundle, o Options) (*Report, error) {
	if b == nil || b.Format != Format || b.Version != Version {
		return nil, fmt.Errorf("%w: not a version %d bundle", ErrFormat, Version)
	}
	// 1. The digest covers every other byte; the exporter signs it.
	d, err := Digest(b)
	if err != nil {
		return nil, err
	}
	if hex.EncodeToString(d[:]) != b.Digest {
		return nil, fmt.Errorf("%w: it is %x, the bundle states %s", ErrDigest, d, b.Digest)
	}
	cp := b.Audit.Checkpoint
	if cp == nil {
		return nil, fmt.Errorf("%w: the audit log has no checkpoint signed by the enclave", ErrAudit)
	}
	// Certificates, policies and approvals are checked as of the
	// checkpoint, the moment the enclave vouched for its log.
	at := cp.Time
	// 2. The policy chain: a first policy, then successors each approved
	// by the quorum of the one before (as clients check it).
	if len(b.Policies) == 0 {
		return nil, fmt.Errorf("%w: the bundle holds no policy", ErrPolicy)
	}
	pols, err := succession.VerifyChain(b.Policies, policy.Hash(b.Policies[0].Policy), at)
	if err != nil {
		return nil, fmt.Errorf("%w: as of %s: %w", ErrPolicy, at.Format(time.RFC3339), err)
	}
	first, pol := pols[0], pols[len(pols)-1]
	rep := &Report{Digest: b.Digest, Exporter: b.Exporter, Exported: b.Exported, Policy: pol,
		Checkpoint: cp, Entries: b.Audit.Entries}
	for i, p := range pols {
		l := Link{Policy: p, Seq: -1}
		for _, a := range b.Policies[i].Approvals {
			l.ApprovedBy = append(l.ApprovedBy, a.Signer)
		}
		rep.Chain = append(rep.Chain, l)
	}
	// 3. The exporter is a principal of the last policy.
	pr := pol.Principal(b.Exporter)
	if pr == nil {
		return nil, fmt.Errorf("%w: exporter %q is not a principal of the policy %s", ErrExporter, b.Exporter, pol.HashHex())
	}
	epub, ok := pr.Certificate().PublicKey.(*ecdsa.PublicKey)
	if !ok || !ecdsa.VerifyASN1(epub, d[:], b.Signature) {
		return nil, fmt.Errorf("%w: the signature is not %s's", ErrExporter, b.Exporter)
	}
	// 4. The enclave: its certificate chain to the CA of the first
	// policy, and its evidence, binding its key to the first policy,
	// which every successor keeps the attestation section of.
	leaf, id, err := checkEnclave(b, first, at, o)
	if err != nil {
		return nil, err
	}
	rep.Enclave, rep.Leaf = id, leaf
	kh := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	rep.KeyHash = hex.EncodeToString(kh[:])
	if !o.SkipEvidence {
		claims, err := attest.CheckEvidence(o.Verifier, first, id, leaf, b.Attestation.Evidence, b.Attestation.Nonce, at)
		if err != nil {
			return nil, fmt.Errorf("%w: evidence: %w", ErrEnclave, err)
		}
		rep.Evidence = claims
	}
	// 5. The audit log: its chain, the enclave's checkpoint of it, and
	// the changes of policy it records, which must be the chain's.
	gov, err := checkAudit(b, rep.Chain, leaf)
	if err != nil {
		return nil, err
	}
	// 6. The receipts: each signed by the enclave key under the policy
	// its run was made under, named by exactly one run entry of the log,
	// and every run entry's receipt present or withheld from an exporter
	// who may not read it under that policy.
	runs, err := checkReceipts(b, pols, gov, leaf, at)
	if err != nil {
		return nil, err
	}
	rep.Runs = runs
	return rep, nil
}

func checkEnclave(b *Bundle, pol *policy.Policy, at time.Time, o Options) (*x509.Certificate, *attest.Identity, error) {
	a := &b.Attestation
	if len(a.Chain) == 0 || len(a.Chain) > maxChain {
		return nil, nil, fmt.Errorf("%w: a chain of %d certificates (1 to %d)", ErrEnclave, len(a.Chain), maxChain)
	}
	certs := make([]*x509.Certificate, 0, len(a.Chain))
	for i, der := range a.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: certificate %d: %v", ErrEnclave, i, err)
		}
		certs = append(certs, c)
	}
	id, err := attest.CheckEnclave(certs, pol, at)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: as of %s: %w", ErrEnclave, at.Format(time.RFC3339), err)
	}
	if a.Platform != id.Platform {
		return nil, nil, fmt.Errorf("%w: the attestation says platform %q, the certificate %q", ErrEnclave, a.Platform, id.Platform)
	}
	if _, ok := certs[0].PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, nil, fmt.Errorf("%w: the enclave key is %T, not ECDSA", ErrEnclave, certs[0].PublicKey)
	}
	if !o.SkipEvidence && o.Verifier == nil {
		return nil, nil, fmt.Errorf("%w: no verifier for %s evidence given", ErrEnclave, id.Platform)
	}
	return certs[0], id, nil
}

// checkAudit checks the audit log and its checkpoint, and returns for
// each entry the index in chain of the policy in force when it was
// written: the first, then the next after each entry recording a change.
// It fills in the Seq of chain's links.
func checkAudit(b *Bundle, chain []Link, leaf *x509.Certificate) ([]int, error) {
	l := &b.Audit
	cp := l.Checkpoint
	if err := audit.VerifyCheckpoint(cp, leaf.PublicKey.(*ecdsa.PublicKey), l.Entries); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAudit, err)
	}
	if l.Head != cp.Head {
		return nil, fmt.Errorf("%w: the log states head %s, the checkpoint %s", ErrAudit, l.Head, cp.Head)
	}
	// The log starts at the policy the enclave states for its first
	// entry: the first policy, unless the changes before it were folded
	// away.
	k := slices.IndexFunc(chain, func(c Link) bool { return c.Policy.HashHex() == cp.BasePolicy })
	if k < 0 || cp.From == 0 && k != 0 {
		return nil, fmt.Errorf("%w: the checkpoint says entry %d was made under policy %s, which is not %s of the bundle's chain", ErrAudit, cp.From, cp.BasePolicy, map[bool]string{true: "the first", false: "one"}[cp.From == 0])
	}
	base := k
	gov := make([]int, len(l.Entries))
	for i, e := range l.Entries {
		if e.Time.After(cp.Time) {
			return nil, fmt.Errorf("%w: entry %d is dated after the checkpoint", ErrAudit, e.Seq)
		}
		if isChange(&e) {
			if k+1 >= len(chain) || e.Hashes[0] != chain[k].Policy.HashHex() || e.Hashes[1] != chain[k+1].Policy.HashHex() {
				return nil, fmt.Errorf("%w: entry %d records a change of policy from %s to %s, which is not the next link of the bundle's chain", ErrAudit, e.Seq, e.Hashes[0], e.Hashes[1])
			}
			k++
			chain[k].Seq = int64(e.Seq)
		}
		gov[i] = k
	}
	if k != len(chain)-1 {
		return nil, fmt.Errorf("%w: the log records %d changes of policy after policy %d, the bundle's chain %d", ErrAudit, k-base, base, len(chain)-1-base)
	}
	if cp.PolicyHash != chain[k].Policy.HashHex() {
		return nil, fmt.Errorf("%w: the checkpoint names policy %s, the last of the bundle's chain is %s", ErrAudit, cp.PolicyHash, chain[k].Policy.HashHex())
	}
	return gov, nil
}

// isChange reports whether an audit entry records a change of policy: an
// accepted successor, whose hashes are the old and the new policy hash.
func isChange(e *audit.Entry) bool { return audit.IsPolicyChange(e) }

// isRun reports whether an audit entry records a run or a pipeline that
// produced a receipt: its hashes are the program hash and the receipt's.
func isRun(e *audit.Entry) bool {
	return (e.Action == "run" || e.Action == "pipeline") && len(e.Hashes) == 2
}

// programOf is the receipt program name of a run entry.
func programOf(e *audit.Entry) string {
	if e.Action == "pipeline" {
		return policy.PipelinePrefix + e.Path
	}
	return e.Path
}

func checkReceipts(b *Bundle, pols []*policy.Policy, gov []int, leaf *x509.Certificate, at time.Time) ([]Run, error) {
	entries := b.Audit.Entries
	byDigest := map[string]int{} // receipt digest → index of its run in runs
	var runs []Run
	for i := range entries {
		e := &entries[i]
		if !isRun(e) {
			continue
		}
		if _, dup := byDigest[e.Hashes[1]]; dup {
			return nil, fmt.Errorf("%w: entries name receipt %s twice", ErrReceipt, e.Hashes[1])
		}
		byDigest[e.Hashes[1]] = len(runs)
		runs = append(runs, Run{Entry: *e, Policy: gov[i], Digest: e.Hashes[1]})
	}
	hashes := make([]string, len(pols))
	for i, p := range pols {
		hashes[i] = p.HashHex()
	}
	seen := make([]bool, len(runs))
	// find returns the run a receipt digest belongs to; both lists follow
	// the log's order.
	find := func(what, digest string, last *int) (*Run, error) {
		k, ok := byDigest[digest]
		if !ok {
			return nil, fmt.Errorf("%w: %s %s is not named by a run in the audit log", ErrReceipt, what, digest)
		}
		if seen[k] {
			return nil, fmt.Errorf("%w: %s %s is in the bundle twice", ErrReceipt, what, digest)
		}
		if k < *last {
			return nil, fmt.Errorf("%w: %s %s is out of the audit log's order", ErrReceipt, what, digest)
		}
		seen[k], *last = true, k
		return &runs[k], nil
	}
	last := 0
	for i := range b.Receipts {
		rc := &b.Receipts[i]
		rl, err := receipt.VerifySignature(rc)
		if err != nil {
			return nil, fmt.Errorf("%w: receipt %d: %w", ErrReceipt, i, err)
		}
		if !bytes.Equal(rl.RawSubjectPublicKeyInfo, leaf.RawSubjectPublicKeyInfo) {
			return nil, fmt.Errorf("%w: receipt %d is signed by another key than the attested enclave's", ErrReceipt, i)
		}
		rd, err := receipt.Digest(rc)
		if err != nil {
			return nil, fmt.Errorf("%w: receipt %d: %w", ErrReceipt, i, err)
		}
		run, err := find("receipt", hex.EncodeToString(rd[:]), &last)
		if err != nil {
			return nil, err
		}
		// The run was made under the policy in force when its entry was
		// written; its receipt must name that policy and the chain to it.
		pol := pols[run.Policy]
		if err := receipt.Verify(rc, pol, at); err != nil {
			return nil, fmt.Errorf("%w: receipt %d (audit entry %d, under policy %s): %w", ErrReceipt, i, run.Entry.Seq, pol.HashHex(), err)
		}
		if run.Policy > 0 && !slices.Equal(rc.PolicyChain, hashes[:run.Policy+1]) {
			return nil, fmt.Errorf("%w: receipt %d names the policy chain %v, the bundle's is %v", ErrReceipt, i, rc.PolicyChain, hashes[:run.Policy+1])
		}
		e := &run.Entry
		if rc.ProgramHash != e.Hashes[0] || rc.Program != programOf(e) {
			return nil, fmt.Errorf("%w: receipt %d is for %s (%s), its audit entry %d for %s (%s)", ErrReceipt, i, rc.Program, rc.ProgramHash, e.Seq, programOf(e), e.Hashes[0])
		}
		if ok := rc.Outcome == receipt.OutcomeExited && rc.ExitCode == 0; ok != (e.Outcome == "ok") {
			return nil, fmt.Errorf("%w: receipt %d says %s with exit code %d, its audit entry %d says %s", ErrReceipt, i, rc.Outcome, rc.ExitCode, e.Seq, e.Outcome)
		}
		if rc.Finished.After(e.Time) {
			return nil, fmt.Errorf("%w: receipt %d finished after its audit entry %d was written", ErrReceipt, i, e.Seq)
		}
		run.Receipt = rc
	}
	last = 0
	for _, w := range b.Withheld {
		run, err := find("withheld receipt", w, &last)
		if err != nil {
			return nil, err
		}
		// Read rights are those of the policy the run was made under,
		// as the runtime decides them.
		if p, pol := programOf(&run.Entry), pols[run.Policy]; pol.MayReadReceipt(b.Exporter, p) {
			return nil, fmt.Errorf("%w: the receipt of entry %d (%s) is withheld, but %s may read it under policy %s: the bundle is incomplete", ErrReceipt, run.Entry.Seq, p, b.Exporter, pol.HashHex())
		}
	}
	for k, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%w: audit entry %d records a run whose receipt is neither in the bundle nor withheld", ErrReceipt, runs[k].Entry.Seq)
		}
	}
	return runs, nil
}
