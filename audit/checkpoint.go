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
// verifies. Version 2 added From, Prev, BasePolicy and Total, for logs
// whose oldest entries are folded away and for paging.
const CheckpointVersion = 2

// ErrCheckpoint is returned (wrapped) for a checkpoint whose signature
// does not verify or that does not describe the entries it comes with.
var ErrCheckpoint = errors.New("audit checkpoint does not verify")

// Checkpoint is the enclave's signed statement about its log at Time: it
// held the entries From to Size-1, the first following the entry with
// hash Prev (folded away, or Genesis when From is 0), the last with hash
// Head, under policy BasePolicy at entry From and PolicyHash after entry
// Size-1; and Total entries in all (Total > Size when the entries after
// Size-1 are on later pages). It makes a copy of the log checkable away
// from the enclave: the hash chain shows the entries were not edited, the
// checkpoint that they are the enclave's, where they start and whether
// any were cut off the end.
type Checkpoint struct {
	Version    int       `json:"version"`
	PolicyHash string    `json:"policy_hash"`
	From       uint64    `json:"from"`
	Prev       string    `json:"prev"`
	BasePolicy string    `json:"base_policy"`
	Size       uint64    `json:"size"`
	Head       string    `json:"head"`
	Total      uint64    `json:"total"`
	Time       time.Time `json:"time"`
	Signature  []byte    `json:"signature,omitempty"`
}

// CheckpointDigest is the SHA-256 that a checkpoint's signature covers:
// "truce-audit-checkpoint-v2\n" followed by the JSON (encoding/json, fields
// in struct order) of the checkpoint with Signature empty.
func CheckpointDigest(c *Checkpoint) [32]byte {
	u := *c
	u.Signature = nil
	b, _ := json.Marshal(&u) // strings, numbers and a time: cannot fail
	h := sha256.New()
	h.Write([]byte("truce-audit-checkpoint-v2\n"))
	h.Write(b)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// Checkpoint returns a checkpoint of every entry the log holds, with them:
// Page(policyHash, -1, 0, key) with no bound on the page.
func (l *Log) Checkpoint(policyHash string, key crypto.Signer) (*Checkpoint, []Entry, error) {
	return l.page(policyHash, -1, 0, key)
}

// Page returns the entries after sequence number after (from the first
// held when after is below it; -1 for all), at most limit of them (0:
// DefaultPage; more than MaxPage: MaxPage), with a checkpoint signed by key
// of the entries held up to the page's last. policyHash is the hex hash of
// the policy in force now; the caller must keep changes of policy (and
// their entries) from happening meanwhile. The checkpoint's BasePolicy and
// PolicyHash follow from it and the changes of policy held.
func (l *Log) Page(policyHash string, after int64, limit int, key crypto.Signer) (*Checkpoint, []Entry, error) {
	if limit <= 0 {
		limit = DefaultPage
	}
	return l.page(policyHash, after, min(limit, MaxPage), key)
}

func (l *Log) page(policyHash string, after int64, limit int, key crypto.Signer) (*Checkpoint, []Entry, error) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	l.mu.Lock()
	start := 0
	if after >= 0 && uint64(after) >= l.from {
		start = int(min(uint64(after)+1-l.from, uint64(len(l.entries))))
	}
	end := len(l.entries)
	if limit > 0 {
		end = min(end, start+limit)
	}
	c := &Checkpoint{Version: CheckpointVersion, From: l.from, Prev: l.prevLocked(),
		Size: l.from + uint64(end), Total: l.from + uint64(len(l.entries)), Time: now().UTC()}
	c.Head = c.Prev
	if end > 0 {
		c.Head = l.entries[end-1].Hash
	}
	// Every change of policy is logged, so the policy at any entry is
	// the one the next change held starts from, or the current one.
	c.BasePolicy, c.PolicyHash = policyHash, policyHash
	for i := len(l.entries) - 1; i >= 0; i-- {
		if e := &l.entries[i]; IsPolicyChange(e) {
			c.BasePolicy = e.Hashes[0]
			if i >= end {
				c.PolicyHash = e.Hashes[0]
			}
		}
	}
	out := append([]Entry{}, l.entries[start:end]...)
	l.mu.Unlock()
	d := CheckpointDigest(c)
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the audit checkpoint: %w", err)
	}
	c.Signature = sig
	return c, out, nil
}

// VerifyCheckpoint checks that c is signed by pub and describes exactly
// entries: those from c.From to c.Size-1, the first following c.Prev, the
// last ending in c.Head, chained as VerifySegment checks.
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
	if c.Size < c.From || c.Total < c.Size {
		return fmt.Errorf("%w: it covers entries %d to %d of %d", ErrCheckpoint, c.From, c.Size, c.Total)
	}
	if c.Size-c.From != uint64(len(entries)) {
		return fmt.Errorf("%w: it covers %d entries (%d to %d), %d are given", ErrCheckpoint, c.Size-c.From, c.From, c.Size, len(entries))
	}
	if err := VerifySegment(entries, c.From, c.Prev); err != nil {
		return fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	head := c.Prev
	if n := len(entries); n > 0 {
		head = entries[n-1].Hash
	}
	if head != c.Head {
		return fmt.Errorf("%w: it ends in %s, the entries end in %s", ErrCheckpoint, c.Head, head)
	}
	return nil
}

// VerifyServed checks a log as an enclave serves it (all its pages):
// entries chain from cp's first entry (from Genesis without cp), the last
// one is head, and cp, if given, is signed by pub and describes exactly
// entries. It reports whether a checkpoint was checked. A head that is not
// the last entry wraps ErrBroken.
func VerifyServed(entries []Entry, head string, cp *Checkpoint, pub *ecdsa.PublicKey) (signed bool, err error) {
	from, prev := uint64(0), Genesis
	if cp != nil {
		from, prev = cp.From, cp.Prev
	}
	if err := VerifySegment(entries, from, prev); err != nil {
		return false, err
	}
	if n := len(entries); n > 0 && entries[n-1].Hash != head {
		return false, fmt.Errorf("%w: the head %s is not the last entry", ErrBroken, head)
	}
	if cp == nil {
		return false, nil
	}
	if err := VerifyCheckpoint(cp, pub, entries); err != nil {
		return false, err
	}
	return true, nil
}
