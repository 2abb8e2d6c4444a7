// Package receipt defines the signed record of one run (or pipeline) that the
// runtime returns: which policy, which program, the hashes of what it could
// read before and what it wrote after, how it ended and when, signed by the
// enclave key whose certificate chain is attached.
//
// A receipt proves what the enclave says happened; it must never carry file
// contents nor plain hashes of them, only salted commitments (audit.Commit)
// that those who may see a file can open, and Verify must never accept a
// receipt whose signature, chain or policy hash does not check.
package receipt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/truce-project/truce/audit"
)

// Version is the receipt format this package writes and verifies.
// Version 2 names files by salted commitment instead of plain SHA-256.
const Version = 2

// ErrSignature is returned (wrapped) when a receipt's signature does not
// verify against its leaf certificate: the receipt was changed or forged.
var ErrSignature = errors.New("receipt signature does not verify")

// ErrPolicy is returned (wrapped) when a receipt names a different policy.
var ErrPolicy = errors.New("receipt is for a different policy")

// ErrChain is returned (wrapped) when the receipt's certificate chain is
// missing or not a chain the policy trusts.
var ErrChain = errors.New("receipt certificate chain not trusted")

// FileHash names one file's content by commitment: the hex
// SHA-256(audit.CommitDomain ‖ salt ‖ content), with the salt the enclave
// drew for that version of the file. Its writer got the salt in the
// write's answer and its readers get it with every read, so they can
// check the receipt names their bytes (Open); no one else can check a
// guess of the content.
type FileHash struct {
	Path       string `json:"path"`
	Commitment string `json:"commitment"`
}

// Receipt records one run. For a pipeline, Program is "pipeline:NAME" and
// ProgramHash is the hex SHA-256 of the steps' program hashes, concatenated
// in order.
type Receipt struct {
	Version     int        `json:"version"`
	PolicyHash  string     `json:"policy_hash"`
	Program     string     `json:"program"`
	ProgramHash string     `json:"program_hash"`
	Inputs      []FileHash `json:"inputs"`
	Outputs     []FileHash `json:"outputs"`
	ExitCode    uint32     `json:"exit_code"`
	Outcome     string     `json:"outcome"`
	Started     time.Time  `json:"started"`
	Finished    time.Time  `json:"finished"`
	Platform    string     `json:"platform"`
	Chain       [][]byte   `json:"chain"`
	// PolicyChain lists the policy hashes (hex) from the enclave's first
	// policy to PolicyHash, once the enclave has accepted a successor;
	// empty while the first policy rules.
	PolicyChain []string `json:"policy_chain,omitempty"`
	// Budgets are the data-use budgets the run fell under, with their
	// counts after it.
	Budgets []BudgetUse `json:"budgets,omitempty"`
	// Folded says ExitCode and Outcome tell only success or failure:
	// exit code 0 and outcome OutcomeExited, or exit code 1 and outcome
	// OutcomeFailed. The enclave folds the result of a run that may read
	// a held file not yet released, or write a held path, since all else
	// of its ending is the program's choice and could carry the held
	// data. Receipts made before the field existed leave it out, as does
	// every receipt that is not folded, so their bytes and digest are
	// unchanged.
	Folded    bool   `json:"folded,omitempty"`
	Signature []byte `json:"signature,omitempty"`
}

// The outcomes a folded receipt may carry.
const (
	// OutcomeExited is the outcome of a run whose program ended by itself
	// with exit code 0, folded or not.
	OutcomeExited = "exited"
	// OutcomeFailed is the outcome of a folded run that did not succeed,
	// whatever the way it ended; its exit code is 1.
	OutcomeFailed = "failed"
)

// ErrFolded is returned (wrapped) when a receipt says it is folded but
// carries more than success or failure.
var ErrFolded = errors.New("folded receipt carries more than success or failure")

// checkFolded checks a folded receipt carries only success (exit code 0,
// OutcomeExited) or failure (exit code 1, OutcomeFailed).
func checkFolded(r *Receipt) error {
	if !r.Folded {
		return nil
	}
	if r.ExitCode == 0 && r.Outcome == OutcomeExited || r.ExitCode == 1 && r.Outcome == OutcomeFailed {
		return nil
	}
	return fmt.Errorf("%w: exit code %d, outcome %q", ErrFolded, r.ExitCode, r.Outcome)
}

// BudgetUse is the count of one data-use budget after a run: the runs the
// data of Principal under Path has fed, and the most it may (0: no count
// limit).
type BudgetUse struct {
	Principal string `json:"principal"`
	Path      string `json:"path"`
	Runs      int    `json:"runs"`
	MaxRuns   int    `json:"max_runs,omitempty"`
}

// Digest is the SHA-256 of the receipt's canonical encoding: the JSON
// (encoding/json, fields in struct order, times in RFC 3339 with
// nanoseconds, byte strings in standard base64) of the receipt with
// Signature empty, prefixed by the domain string "truce-receipt-v1\n".
func Digest(r *Receipt) ([32]byte, error) {
	c := *r
	c.Signature = nil
	b, err := json.Marshal(&c)
	if err != nil {
		return [32]byte{}, fmt.Errorf("encoding receipt: %w", err)
	}
	h := sha256.New()
	h.Write([]byte("truce-receipt-v1\n"))
	h.Write(b)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, nil
}

// Sign sets r.Version and signs r with key (ECDSA P-256 over Digest, ASN.1
// signature), storing the signature in r.Signature.
func Sign(r *Receipt, key crypto.Signer) error {
	r.Version = Version
	r.Signature = nil
	d, err := Digest(r)
	if err != nil {
		return err
	}
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return fmt.Errorf("signing receipt: %w", err)
	}
	r.Signature = sig
	return nil
}

// VerifySignature checks only that r is signed by the key of its leaf
// certificate (r.Chain[0]). It does not say whether that certificate is
// trusted: use Verify for that.
func VerifySignature(r *Receipt) (*x509.Certificate, error) {
	if r.Version != Version {
		return nil, fmt.Errorf("receipt version %d: this truce reads version %d", r.Version, Version)
	}
	if len(r.Chain) == 0 {
		return nil, fmt.Errorf("%w: the receipt has no certificate", ErrChain)
	}
	leaf, err := x509.ParseCertificate(r.Chain[0])
	if err != nil {
		return nil, fmt.Errorf("%w: leaf certificate: %v", ErrChain, err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: leaf key is %T, not ECDSA", ErrChain, leaf.PublicKey)
	}
	d, err := Digest(r)
	if err != nil {
		return nil, err
	}
	if !ecdsa.VerifyASN1(pub, d[:], r.Signature) {
		return nil, ErrSignature
	}
	return leaf, nil
}

// ErrNotNamed is returned (wrapped) by Open when the receipt names no
// input or output at the path given.
var ErrNotNamed = errors.New("receipt names no such file")

// Open checks that the receipt names, as an input (inputs true) or an
// output, the file path with the content read from content under the hex
// salt the enclave gave for it: the way a data owner checks that a run
// read its data, or a reader that it wrote what was read. The error wraps
// ErrNotNamed or audit.ErrOpening when it does not.
func Open(r *Receipt, inputs bool, path, saltHex string, content io.Reader) error {
	files, what := r.Outputs, "output"
	if inputs {
		files, what = r.Inputs, "input"
	}
	for _, f := range files {
		if f.Path == path {
			if err := audit.Open(f.Commitment, saltHex, content); err != nil {
				return fmt.Errorf("%s %s: %w", what, path, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: no %s %s", ErrNotNamed, what, path)
}
