// Package audit is the runtime's append-only, hash-chained log of every
// request: who asked, what, on which path, the commitments and hashes
// involved and the outcome. Each entry's hash covers the previous entry's
// hash, so removing, reordering or editing an entry breaks the chain
// (Verify).
//
// The log lives in enclave memory and dies with it, within a byte budget:
// when its entries outgrow it, the oldest are folded away, and what is
// left still chains to them through the hash of the last one folded (the
// enclave's signed checkpoints state it; see Checkpoint). It must never
// record file contents, secrets or plain hashes of file contents, only
// names, paths, salted commitments (Commit) and hashes of public things.
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

// DefaultBudget is the byte budget of a Log whose Budget is zero: about
// 17,000 entries of refused reads (Cost about 490 bytes each), which take
// about 4.5 MiB of heap.
const DefaultBudget = 8 << 20

// MaxPage is the most entries one Page returns; DefaultPage is the number
// returned when none is asked for.
const (
	MaxPage     = 1000
	DefaultPage = MaxPage
)

// ActionPolicyChange is the action of the entry recording a request for a
// change of policy; when accepted (outcome "ok") its hashes are the old and
// the new policy hash.
const ActionPolicyChange = "policy-successor"

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

// IsPolicyChange reports whether e records an accepted change of policy,
// from e.Hashes[0] to e.Hashes[1].
func IsPolicyChange(e *Entry) bool {
	return e.Action == ActionPolicyChange && e.Outcome == "ok" && len(e.Hashes) == 2
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

// entryOverhead is what an entry costs in memory beyond its strings: the
// struct, slice headers and allocation rounding, measured generously.
const entryOverhead = 320

// Cost is what an entry is charged against a log's budget: an estimate of
// the memory it takes, which is also about the size of its JSON.
func Cost(e *Entry) int64 {
	n := entryOverhead + len(e.Principal) + len(e.Action) + len(e.Path) + len(e.Outcome) + len(e.Prev) + len(e.Hash)
	for _, h := range e.Hashes {
		n += 16 + len(h)
	}
	return int64(n)
}

// Log is an in-memory audit log, safe for concurrent use. The zero value is
// an empty log using time.Now and DefaultBudget.
type Log struct {
	// Now gives entry times; nil means time.Now.
	Now func() time.Time
	// Budget bounds the bytes (Cost, plus what AppendCharged adds) of the
	// entries kept; 0 means DefaultBudget. Past it, the oldest entries are
	// folded away until a quarter of it is free again.
	Budget int64
	// OnFold, if set, is called with the entries folded away, in order,
	// after they left the log (without its lock held).
	OnFold func([]Entry)

	mu      sync.Mutex
	entries []Entry // seq from, from+1, …
	costs   []int64
	from    uint64 // seq of entries[0]; entries before it are folded
	prev    string // hash of entry from-1; Genesis (or "") when from is 0
	head    string // hash of the last entry; "" when none was ever appended
	bytes   int64
}

func (l *Log) budget() int64 {
	if l.Budget > 0 {
		return l.Budget
	}
	return DefaultBudget
}

// Append adds an entry; Seq, Time, Prev and Hash are set by the log. It
// returns the entry as stored.
func (l *Log) Append(e Entry) Entry { return l.AppendCharged(e, 0) }

// AppendCharged adds an entry as Append does, charging extra bytes on top
// of its Cost against the budget, for what lives only as long as the
// entry (the receipt a run entry names, say); they are freed (OnFold) when
// it is folded away.
func (l *Log) AppendCharged(e Entry, extra int64) Entry {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	e.Hashes = append([]string(nil), e.Hashes...)
	l.mu.Lock()
	e.Seq = l.from + uint64(len(l.entries))
	e.Time = now().UTC()
	e.Prev = l.headLocked()
	e.Hash = Compute(e)
	c := Cost(&e) + max(extra, 0)
	l.entries = append(l.entries, e)
	l.costs = append(l.costs, c)
	l.head = e.Hash
	l.bytes += c
	folded := l.foldLocked()
	l.mu.Unlock()
	if len(folded) > 0 && l.OnFold != nil {
		l.OnFold(folded)
	}
	return e
}

func (l *Log) headLocked() string {
	if l.head == "" {
		return Genesis
	}
	return l.head
}

func (l *Log) prevLocked() string {
	if l.prev == "" {
		return Genesis
	}
	return l.prev
}

// foldLocked folds the oldest entries away while the log is over its
// budget, down to three quarters of it, and returns them.
func (l *Log) foldLocked() []Entry {
	b := l.budget()
	if l.bytes <= b {
		return nil
	}
	n := 0
	for n < len(l.entries) && l.bytes > b-b/4 {
		l.bytes -= l.costs[n]
		n++
	}
	folded := l.entries[:n:n]
	l.prev = l.entries[n-1].Hash
	l.from += uint64(n)
	// Copy what is kept, so that the folded entries' memory is freed.
	l.entries = append(make([]Entry, 0, len(l.entries)-n+64), l.entries[n:]...)
	l.costs = append(make([]int64, 0, len(l.costs)-n+64), l.costs[n:]...)
	return folded
}

// Entries returns a copy of the entries the log holds (those not folded
// away) and the hash of its last entry (Genesis when none was appended).
func (l *Log) Entries() ([]Entry, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Entry(nil), l.entries...), l.headLocked()
}

// Stats describes a log's size.
type Stats struct {
	// From is the seq of the first entry held; Total the number of
	// entries ever appended; Bytes what the held entries are charged.
	From, Total uint64
	Bytes       int64
	// Budget is the log's budget.
	Budget int64
}

// Stats returns the log's size now.
func (l *Log) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{From: l.from, Total: l.from + uint64(len(l.entries)), Bytes: l.bytes, Budget: l.budget()}
}

// Wipe forgets every entry.
func (l *Log) Wipe() {
	l.mu.Lock()
	l.entries, l.costs = nil, nil
	l.from, l.prev, l.head, l.bytes = 0, "", "", 0
	l.mu.Unlock()
}

// Verify checks that entries form one chain from Genesis: sequence numbers
// count from 0, each Prev is the previous Hash, and each Hash is correct.
func Verify(entries []Entry) error { return VerifySegment(entries, 0, Genesis) }

// VerifySegment checks that entries form one chain starting at sequence
// number from, whose first entry follows the entry with hash prev (Genesis
// for from 0): sequence numbers count up from from, each Prev is the
// previous Hash, and each Hash is correct.
func VerifySegment(entries []Entry, from uint64, prev string) error {
	if from == 0 && prev != Genesis {
		return fmt.Errorf("%w: the log starts at entry 0, which follows nothing, not %s", ErrBroken, prev)
	}
	for i, e := range entries {
		seq := from + uint64(i)
		if e.Seq != seq {
			return fmt.Errorf("%w: entry %d has sequence number %d", ErrBroken, seq, e.Seq)
		}
		if e.Prev != prev {
			if i == 0 {
				return fmt.Errorf("%w: entry %d does not follow the entries before it", ErrBroken, seq)
			}
			return fmt.Errorf("%w: entry %d does not follow entry %d", ErrBroken, seq, seq-1)
		}
		if Compute(e) != e.Hash {
			return fmt.Errorf("%w: entry %d was changed after it was written", ErrBroken, seq)
		}
		prev = e.Hash
	}
	return nil
}
