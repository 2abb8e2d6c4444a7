package audit

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

func sample(t testing.TB) []Entry {
	t.Helper()
	l := &Log{Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	l.Append(Entry{Principal: "alice", Action: "write", Path: "/input/a", Hashes: []string{"aa"}, Outcome: "ok"})
	l.Append(Entry{Principal: "bob", Action: "run", Path: "/program/p.wasm", Outcome: "exited 0"})
	l.Append(Entry{Principal: "bob", Action: "read", Path: "/output/o", Outcome: "forbidden"})
	es, head := l.Entries()
	if head != es[2].Hash {
		t.Fatal("head is not the last hash")
	}
	return es
}

func TestVerify(t *testing.T) {
	if err := Verify(sample(t)); err != nil {
		t.Fatal(err)
	}
	if err := Verify(nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tamper func([]Entry) []Entry
	}{
		{"edit outcome", func(e []Entry) []Entry { e[1].Outcome = "ok"; return e }},
		{"edit principal", func(e []Entry) []Entry { e[0].Principal = "mallory"; return e }},
		{"drop first", func(e []Entry) []Entry { return e[1:] }},
		{"drop middle", func(e []Entry) []Entry { return append(e[:1], e[2:]...) }},
		{"swap", func(e []Entry) []Entry { e[1], e[2] = e[2], e[1]; return e }},
		{"rehash edited", func(e []Entry) []Entry { e[1].Path = "/x"; e[1].Hash = Compute(e[1]); return e }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(tc.tamper(sample(t))); !errors.Is(err, ErrBroken) {
				t.Fatalf("Verify = %v, want ErrBroken", err)
			}
		})
	}
}

func TestConcurrentAppend(t *testing.T) {
	var l Log
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); l.Append(Entry{Action: "x"}) }()
	}
	wg.Wait()
	es, _ := l.Entries()
	if len(es) != 20 {
		t.Fatalf("%d entries", len(es))
	}
	if err := Verify(es); err != nil {
		t.Fatal(err)
	}
	l.Wipe()
	if es, h := l.Entries(); len(es) != 0 || h != Genesis {
		t.Fatal("not wiped")
	}
}

// FuzzVerify checks logs decoded from arbitrary JSON (as a client reads
// them from the enclave): Verify must never panic, and must accept only a
// chain whose every hash is recomputed correctly from Genesis.
func FuzzVerify(f *testing.F) {
	es := sample(f)
	b, _ := json.Marshal(es)
	f.Add(b)
	f.Add([]byte(`[{"seq":0,"prev":"","hash":""}]`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var es []Entry
		if json.Unmarshal(b, &es) != nil {
			return
		}
		if Verify(es) != nil {
			return
		}
		prev := Genesis
		for i, e := range es {
			if e.Prev != prev || Compute(e) != e.Hash || e.Seq != uint64(i) {
				t.Fatalf("Verify accepted a broken chain at entry %d", i)
			}
			prev = e.Hash
		}
	})
}
