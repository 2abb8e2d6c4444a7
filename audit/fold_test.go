package audit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"
)

func fixedNow() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// TestFoldKeepsBudget: a log appended far past its budget keeps within
// it, the entries it keeps chain to those folded away, OnFold sees every
// folded entry once and in order, and a checkpoint of what is kept
// verifies.
func TestFoldKeepsBudget(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var folded []Entry
	l := &Log{Now: fixedNow, Budget: 64 << 10}
	l.OnFold = func(es []Entry) { folded = append(folded, es...) }
	var all []Entry
	for i := 0; i < 5000; i++ {
		all = append(all, l.Append(Entry{Principal: "mallory", Action: "read", Path: fmt.Sprintf("/input/%d", i), Outcome: "forbidden"}))
		if st := l.Stats(); st.Bytes > st.Budget {
			t.Fatalf("after %d entries the log holds %d bytes, over its budget of %d", i+1, st.Bytes, st.Budget)
		}
	}
	st := l.Stats()
	if st.From == 0 || st.Total != 5000 || uint64(len(folded)) != st.From {
		t.Fatalf("stats %+v, %d folded", st, len(folded))
	}
	for i, e := range folded {
		if e.Seq != uint64(i) || e.Hash != all[i].Hash {
			t.Fatalf("folded entry %d is %d", i, e.Seq)
		}
	}
	if err := Verify(append(folded, mustEntries(l)...)); err != nil {
		t.Fatalf("folded and kept entries do not make one chain: %v", err)
	}
	c, es, err := l.Checkpoint("ph", key)
	if err != nil {
		t.Fatal(err)
	}
	if c.From != st.From || c.Prev != folded[len(folded)-1].Hash || c.Size != 5000 || c.Total != 5000 {
		t.Fatalf("checkpoint %+v", c)
	}
	if err := VerifyCheckpoint(c, &key.PublicKey, es); err != nil {
		t.Fatal(err)
	}
	// The kept entries alone do not pass for a log from the start.
	if err := Verify(es); !errors.Is(err, ErrBroken) {
		t.Fatalf("Verify of a folded log from the start = %v", err)
	}
}

func mustEntries(l *Log) []Entry { es, _ := l.Entries(); return es }

// TestPages: pages of a log put together verify against the last page's
// checkpoint; policy hashes follow the changes of policy held.
func TestPages(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	l := &Log{Now: fixedNow}
	for i := 0; i < 25; i++ {
		e := Entry{Principal: "alice", Action: "write", Path: "/input/a", Outcome: "ok"}
		if i == 10 {
			e = Entry{Principal: "alice", Action: ActionPolicyChange, Hashes: []string{"p0", "p1"}, Outcome: "ok"}
		}
		l.Append(e)
	}
	for _, tc := range []struct {
		name              string
		after             int64
		limit             int
		first, size       uint64
		base, policy      string
		entries, wantSize int
	}{
		{"first page", -1, 10, 0, 10, "p0", "p0", 10, 10},
		{"through the change", 9, 5, 10, 15, "p0", "p1", 5, 15},
		{"last page", 19, 10, 20, 25, "p0", "p1", 5, 25},
		{"past the end", 30, 10, 0, 25, "p0", "p1", 0, 25},
		{"no limit", -1, 0, 0, 25, "p0", "p1", 25, 25},
		{"over the most", -1, MaxPage + 5, 0, 25, "p0", "p1", 25, 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, es, err := l.Page("p1", tc.after, tc.limit, key)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != tc.entries || c.Size != tc.size || c.Total != 25 || c.BasePolicy != tc.base || c.PolicyHash != tc.policy {
				t.Fatalf("page: %d entries, checkpoint %+v", len(es), c)
			}
			if len(es) > 0 && es[0].Seq != tc.first {
				t.Fatalf("page starts at %d", es[0].Seq)
			}
			all := mustEntries(l)[:c.Size]
			if err := VerifyCheckpoint(c, &key.PublicKey, all); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVerifyCheckpointSegment: a checkpoint of a folded log checks where
// the entries start and what they follow.
func TestVerifyCheckpointSegment(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	l := &Log{Now: fixedNow, Budget: 8 << 10}
	for i := 0; i < 200; i++ {
		l.Append(Entry{Principal: "bob", Action: "audit", Outcome: "ok"})
	}
	c, es, err := l.Checkpoint("ph", key)
	if err != nil || c.From == 0 {
		t.Fatalf("%+v %v", c, err)
	}
	resign := func(c *Checkpoint) *Checkpoint {
		d := CheckpointDigest(c)
		c.Signature, _ = ecdsa.SignASN1(rand.Reader, key, d[:])
		return c
	}
	for _, tc := range []struct {
		name   string
		tamper func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry)
	}{
		{"first kept entry dropped", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { return c, es[1:] }},
		{"from moved, re-signed", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { c.From++; return resign(c), es }},
		{"prev changed, re-signed", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { c.Prev = Genesis; return resign(c), es }},
		{"from 0 claimed, re-signed", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) {
			c.From, c.Prev = 0, Genesis
			return resign(c), es
		}},
		{"total below size, re-signed", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { c.Total = c.Size - 1; return resign(c), es }},
		{"prev changed", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { c.Prev = Genesis; return c, es }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := *c
			got, ges := tc.tamper(&cc, append([]Entry(nil), es...))
			if err := VerifyCheckpoint(got, &key.PublicKey, ges); !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("VerifyCheckpoint = %v, want ErrCheckpoint", err)
			}
		})
	}
}

// FuzzVerifyCheckpoint: checkpoints and entries from untrusted bytes
// (a bundle, an answer) never panic the checks.
func FuzzVerifyCheckpoint(f *testing.F) {
	f.Add(uint64(0), "", uint64(0), uint64(0), 0)
	f.Add(uint64(3), Genesis, uint64(5), uint64(9), 2)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Fuzz(func(t *testing.T, from uint64, prev string, size, total uint64, n int) {
		n = n % 64
		if n < 0 {
			n = -n
		}
		es := make([]Entry, n)
		for i := range es {
			es[i] = Entry{Seq: from + uint64(i), Prev: prev, Hash: prev}
		}
		c := &Checkpoint{Version: CheckpointVersion, From: from, Prev: prev, Size: size, Total: total}
		d := CheckpointDigest(c)
		c.Signature, _ = ecdsa.SignASN1(rand.Reader, key, d[:])
		_ = VerifyCheckpoint(c, &key.PublicKey, es)
		_ = VerifySegment(es, from, prev)
	})
}
