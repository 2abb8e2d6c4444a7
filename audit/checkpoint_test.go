package audit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func TestCheckpoint(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	l := &Log{Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	c, es, err := l.Checkpoint("ph", key)
	if err != nil || c.Size != 0 || c.Head != Genesis || len(es) != 0 {
		t.Fatalf("empty log: %+v %d %v", c, len(es), err)
	}
	if err := VerifyCheckpoint(c, &key.PublicKey, es); err != nil {
		t.Fatalf("empty log: %v", err)
	}
	l.Append(Entry{Principal: "alice", Action: "write", Path: "/input/a", Hashes: []string{"aa"}, Outcome: "ok"})
	l.Append(Entry{Principal: "bob", Action: "run", Path: "/program/p.wasm", Outcome: "ok"})
	c, es, err = l.Checkpoint("ph", key)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyCheckpoint(c, &key.PublicKey, es); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		tamper  func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry)
		pub     *ecdsa.PublicKey
		wantErr bool
	}{
		{"other key", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { return c, es }, &other.PublicKey, true},
		{"no key", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { return c, es }, nil, true},
		{"none", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { return nil, es }, &key.PublicKey, true},
		{"log cut", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { return c, es[:1] }, &key.PublicKey, true},
		{"size changed", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { c.Size = 1; return c, es[:1] }, &key.PublicKey, true},
		{"policy changed", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { c.PolicyHash = "x"; return c, es }, &key.PublicKey, true},
		{"time changed", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { c.Time = c.Time.Add(1); return c, es }, &key.PublicKey, true},
		{"version", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { c.Version = 1; return c, es }, &key.PublicKey, true},
		{"untouched", func(c *Checkpoint, es []Entry) (*Checkpoint, []Entry) { return c, es }, &key.PublicKey, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := *c
			got, ges := tc.tamper(&cc, append([]Entry(nil), es...))
			err := VerifyCheckpoint(got, tc.pub, ges)
			if tc.wantErr != (err != nil) {
				t.Fatalf("got %v", err)
			}
			if err != nil && !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("%v does not wrap ErrCheckpoint", err)
			}
		})
	}
}

// TestVerifyServed checks a served log whole: with its checkpoint, without
// one, with a head that is not its last entry, and signed by another key.
func TestVerifyServed(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	l := &Log{}
	l.Append(Entry{Principal: "alice", Action: "write", Path: "/input/a", Outcome: "ok"})
	l.Append(Entry{Principal: "bob", Action: "run", Path: "/program/p.wasm", Outcome: "ok"})
	c, es, err := l.Checkpoint("ph", key)
	if err != nil {
		t.Fatal(err)
	}
	if signed, err := VerifyServed(es, c.Head, c, &key.PublicKey); err != nil || !signed {
		t.Fatalf("served log: %v, %v", signed, err)
	}
	if signed, err := VerifyServed(es, es[1].Hash, nil, nil); err != nil || signed {
		t.Fatalf("log without checkpoint: %v, %v", signed, err)
	}
	if _, err := VerifyServed(es, es[0].Hash, nil, nil); !errors.Is(err, ErrBroken) {
		t.Fatalf("head not the last entry: %v, want ErrBroken", err)
	}
	if _, err := VerifyServed(es, c.Head, c, &other.PublicKey); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("checkpoint of another key: %v, want ErrCheckpoint", err)
	}
	if _, err := VerifyServed(es[1:], c.Head, nil, nil); !errors.Is(err, ErrBroken) {
		t.Fatalf("log without its first entry: %v, want ErrBroken", err)
	}
}
