package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/policy"
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
	// Policy is the policy the enclave ran; PolicyChain the hex hashes of
	// every policy of the chain, oldest first.
	Policy      *policy.Policy
	PolicyChain []string
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
	// Entries is the audit log.
	Entries []audit.Entry
	// Runs are the runs and pipelines of the audit log, in order.
	Runs []Run
}

// Run is one run or pipeline of the audit log with its receipt.
type Run struct {
	// Entry is the audit entry recording it: who asked, when, outcome.
	Entry audit.Entry
	// Digest is the hex digest of its receipt, as the entry names it.
	Digest string
	// Receipt is the verified receipt; nil if withheld from the exporter.
	Receipt *receipt.Receipt
}

// Verify checks every part of b against the others and against the policy
// it carries, offline, and returns what it shows. The steps, in order, are
// those of docs/trust-lifecycle-bundle.md; the first that fails ends the
// check with an error wrapping one of the Err* sentinels.
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
	// 2. The policy chain: today, one policy.
	switch n := len(b.Policies); {
	case n == 0:
		return nil, fmt.Errorf("%w: the bundle holds no policy", ErrPolicy)
	case n > 1:
		return nil, fmt.Errorf("%w: a chain of %d policies (successor policies); this truce checks chains of one", ErrPolicy, n)
	}
	cp := b.Audit.Checkpoint
	if cp == nil {
		return nil, fmt.Errorf("%w: the audit log has no checkpoint signed by the enclave", ErrAudit)
	}
	// Certificates and the policy are checked as of the checkpoint, the
	// moment the enclave vouched for its log.
	at := cp.Time
	raw := b.Policies[len(b.Policies)-1]
	pol, err := policy.Parse(raw, at)
	if err != nil {
		return nil, fmt.Errorf("%w: as of %s: %w", ErrPolicy, at.Format(time.RFC3339), err)
	}
	rep := &Report{Digest: b.Digest, Exporter: b.Exporter, Exported: b.Exported, Policy: pol,
		PolicyChain: []string{pol.HashHex()}, Checkpoint: cp, Entries: b.Audit.Entries}
	pr := pol.Principal(b.Exporter)
	if pr == nil {
		return nil, fmt.Errorf("%w: exporter %q is not a principal of the policy", ErrExporter, b.Exporter)
	}
	epub, ok := pr.Certificate().PublicKey.(*ecdsa.PublicKey)
	if !ok || !ecdsa.VerifyASN1(epub, d[:], b.Signature) {
		return nil, fmt.Errorf("%w: the signature is not %s's", ErrExporter, b.Exporter)
	}
	// 3. The enclave: its certificate chain to the policy's CA, and its
	// evidence, binding its key to the policy.
	leaf, id, err := checkEnclave(b, pol, at, o)
	if err != nil {
		return nil, err
	}
	rep.Enclave, rep.Leaf = id, leaf
	kh := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	rep.KeyHash = hex.EncodeToString(kh[:])
	if !o.SkipEvidence {
		claims, err := attest.CheckEvidence(o.Verifier, pol, id, leaf, b.Attestation.Evidence, b.Attestation.Nonce, at)
		if err != nil {
			return nil, fmt.Errorf("%w: evidence: %w", ErrEnclave, err)
		}
		rep.Evidence = claims
	}
	// 4. The audit log: its chain, and the enclave's checkpoint of it.
	if err := checkAudit(b, pol, leaf); err != nil {
		return nil, err
	}
	// 5. The receipts: each signed by the enclave key, named by exactly
	// one run entry of the log, and every run entry's receipt present or
	// withheld from an exporter who may not read it.
	runs, err := checkReceipts(b, pol, leaf, at)
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

func checkAudit(b *Bundle, pol *policy.Policy, leaf *x509.Certificate) error {
	l := &b.Audit
	cp := l.Checkpoint
	if err := audit.Verify(l.Entries); err != nil {
		return fmt.Errorf("%w: %w", ErrAudit, err)
	}
	if err := audit.VerifyCheckpoint(cp, leaf.PublicKey.(*ecdsa.PublicKey), l.Entries); err != nil {
		return fmt.Errorf("%w: %w", ErrAudit, err)
	}
	if cp.PolicyHash != pol.HashHex() {
		return fmt.Errorf("%w: the checkpoint names policy %s, the bundle's is %s", ErrAudit, cp.PolicyHash, pol.HashHex())
	}
	if l.Head != cp.Head {
		return fmt.Errorf("%w: the log states head %s, the checkpoint %s", ErrAudit, l.Head, cp.Head)
	}
	for _, e := range l.Entries {
		if e.Time.After(cp.Time) {
			return fmt.Errorf("%w: entry %d is dated after the checkpoint", ErrAudit, e.Seq)
		}
	}
	return nil
}

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

func checkReceipts(b *Bundle, pol *policy.Policy, leaf *x509.Certificate, at time.Time) ([]Run, error) {
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
		runs = append(runs, Run{Entry: *e, Digest: e.Hashes[1]})
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
		if err := receipt.Verify(rc, pol, at); err != nil {
			return nil, fmt.Errorf("%w: receipt %d: %w", ErrReceipt, i, err)
		}
		rl, err := x509.ParseCertificate(rc.Chain[0])
		if err != nil || !bytes.Equal(rl.RawSubjectPublicKeyInfo, leaf.RawSubjectPublicKeyInfo) {
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
		e := &run.Entry
		if rc.ProgramHash != e.Hashes[0] || rc.Program != programOf(e) {
			return nil, fmt.Errorf("%w: receipt %d is for %s (%s), its audit entry %d for %s (%s)", ErrReceipt, i, rc.Program, rc.ProgramHash, e.Seq, programOf(e), e.Hashes[0])
		}
		if ok := rc.Outcome == "exited" && rc.ExitCode == 0; ok != (e.Outcome == "ok") {
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
		if p := programOf(&run.Entry); pol.MayReadReceipt(b.Exporter, p) {
			return nil, fmt.Errorf("%w: the receipt of entry %d (%s) is withheld, but %s may read it: the bundle is incomplete", ErrReceipt, run.Entry.Seq, p, b.Exporter)
		}
	}
	for k, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%w: audit entry %d records a run whose receipt is neither in the bundle nor withheld", ErrReceipt, runs[k].Entry.Seq)
		}
	}
	return runs, nil
}
