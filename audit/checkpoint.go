package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CheckpointVersion is the checkpoint format this package writes and
// verifies.
const CheckpointVersion = 1

// ErrCheckpoint is returned (wrapped) for a checkpoint whose signature
// does not verify or that does not describe the entries it comes with.
var ErrCheckpoint = errors.New("audit checkpoint does not verify")

// Checkpoint is the enclave's signed statement that its log, for the
// policy with hash PolicyHash, held Size entries ending in Head at Time.
// It makes a copy of the log checkable away from the enclave: the hash
// chain shows the entries were not edited, the checkpoint that they are
// the enclave's and that none were cut off the end.
type Checkpoint struct {
	Version    int       `json:"version"`
	PolicyHash string    `json:"policy_hash"`
	Size       uint64    `json:"size"`
	Head       string    `json:"head"`
	Time       time.Time `json:"time"`
	Signature  []byte    `json:"signature,omitempty"`
}

// CheckpointDigest is the SHA-256 that a checkpoint's signature covers:
// "truce-audit-checkpoint-v1\n" followed by the JSON (encoding/json, fields
// in struct order) of the checkpoint with Signature empty.
func CheckpointDigest(c *Checkpoint) [32]byte {
	u := *c
	u.Signature = nil
	b, _ := json.Marshal(&u) // strings, numbers and a time: cannot fail
	h := sha256.New()
	h.Write([]byte("truce-audit-checkpoint-v1\n"))
	h.Write(b)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// Checkpoint returns a checkpoint of the log as it is now, for the policy
// with hex hash policyHash, signed with key (ECDSA over CheckpointDigest,
// ASN.1), together with the entries it covers.
func (l *Log) Checkpoint(policyHash string, key crypto.Signer) (*Checkpoint, []Entry, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	entries, head := l.Entries()
	c := &Checkpoint{Version: CheckpointVersion, PolicyHash: policyHash, Size: uint64(len(entries)), Head: head, Time: now().UTC()}
	d := CheckpointDigest(c)
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the audit checkpoint: %w", err)
	}
	c.Signature = sig
	return c, entries, nil
}

// VerifyCheckpoint checks that c is signed by pub and describes exactly
// entries: as many, ending in c.Head. It does not check the chain itself:
// use Verify for that.
func VerifyCheckpoint(c *Checkpoint, pub *ecdsa.PublicKey, entries []Entry) error {
	if c == nil {
		return fmt.Errorf("%w: there is none", ErrCheckpoint)
	}
	if c.Version != CheckpointVersion {
		return fmt.Errorf("%w: version %d, this truce reads version %d", ErrCheckpoint, c.Version, CheckpointVersion)
	}
	d := CheckpointDigest(c)
	if pub == nil || !ecdsa.VerifyASN1(pub, d[:], c.Signature) {
		return fmt.Errorf("%w: the signature is not the enclave key's", ErrCheckpoint)
	}
	if c.Size != uint64(len(entries)) {
		return fmt.Errorf("%w: it covers %d entries, %d are given", ErrCheckpoint, c.Size, len(entries))
	}
	head := Genesis
	if n := len(entries); n > 0 {
		head = entries[n-1].Hash
	}
	if head != c.Head {
		return fmt.Errorf("%w: it ends in %s, the entries end in %s", ErrCheckpoint, c.Head, head)
	}
	return nil
}
