// Package audit is the runtime's append-only, hash-chained log of every
// request: who asked, what, on which path, the hashes involved and the
// outcome. Each entry's hash covers the previous entry's hash, so removing,
// reordering or editing an entry breaks the chain (Verify).
//
// The log lives in enclave memory and dies with it. It must never record
// file contents or secrets, only names, paths and hashes.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Genesis is the Prev of the first entry: 64 hex zeros.
var Genesis = hex.EncodeToString(make([]byte, 32))

// ErrBroken is returned (wrapped) by Verify for a chain that does not check.
var ErrBroken = errors.New("audit chain broken")

// Entry is one request in the log.
type Entry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Principal string    `json:"principal"`
	Action    string    `json:"action"`
	Path      string    `json:"path,omitempty"`
	Hashes    []string  `json:"hashes,omitempty"`
	Outcome   string    `json:"outcome"`
	Prev      string    `json:"prev"`
	Hash      string    `json:"hash"`
}

// Compute returns the hash of e: hex SHA-256 of "truce-audit-v1\n" followed
// by the JSON of e with Hash empty (fields in struct order, so Prev is
// covered).
func Compute(e Entry) string {
	e.Hash = ""
	b, _ := json.Marshal(e) // only strings, numbers and times: cannot fail
	h := sha256.New()
	h.Write([]byte("truce-audit-v1\n"))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Log is an in-memory audit log, safe for concurrent use. The zero value is
// an empty log using time.Now.
type Log struct {
	// Now gives entry times; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries []Entry
}

// Append adds an entry; Seq, Time, Prev and Hash are set by the log. It
// returns the entry as stored.
func (l *Log) Append(e Entry) Entry {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.Seq = uint64(len(l.entries))
	e.Time = now().UTC()
	e.Prev = Genesis
	if n := len(l.entries); n > 0 {
		e.Prev = l.entries[n-1].Hash
	}
	e.Hashes = append([]string(nil), e.Hashes...)
	e.Hash = Compute(e)
	l.entries = append(l.entries, e)
	return e
}

// Entries returns a copy of the log and the hash of its last entry (Genesis
// when empty).
func (l *Log) Entries() ([]Entry, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]Entry(nil), l.entries...)
	head := Genesis
	if n := len(out); n > 0 {
		head = out[n-1].Hash
	}
	return out, head
}

// Wipe forgets every entry.
func (l *Log) Wipe() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

// Verify checks that entries form one chain from Genesis: sequence numbers
// count from 0, each Prev is the previous Hash, and each Hash is correct.
func Verify(entries []Entry) error {
	prev := Genesis
	for i, e := range entries {
		if e.Seq != uint64(i) {
			return fmt.Errorf("%w: entry %d has sequence number %d", ErrBroken, i, e.Seq)
		}
		if e.Prev != prev {
			return fmt.Errorf("%w: entry %d does not follow entry %d", ErrBroken, i, i-1)
		}
		if Compute(e) != e.Hash {
			return fmt.Errorf("%w: entry %d was changed after it was written", ErrBroken, i)
		}
		prev = e.Hash
	}
	return nil
}
