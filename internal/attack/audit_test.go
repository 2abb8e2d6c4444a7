package attack

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/receipt"
)

// pCat prints the held /output/copy.dat: it may read it, not write it.
const pCat = "/program/cat.wasm"

// heldWorld is the suite's world with every output held until alice
// releases it, and pCat, a program with only a read right on the held
// copy.
func heldWorld(t *testing.T) *world {
	t.Helper()
	sum := sha256.Sum256(hostile(t))
	return startWorld(t, worldOptions{name: "audit", tweak: func(doc map[string]any) {
		doc["holds"] = []any{map[string]any{"path": "/output/", "release_by": []string{"alice"}}}
		doc["programs"] = append(doc["programs"].([]any), map[string]any{"path": pCat, "sha256": hex.EncodeToString(sum[:]),
			"capabilities": map[string]string{"/output/copy.dat": "r"}})
	}})
}

// guesses is what a principal without rights tries: every short bid and
// the likely answers of a held result.
func guesses() [][]byte {
	out := [][]byte{[]byte("yes"), []byte("no"), []byte("maybe")}
	for i := 0; i < 10000; i++ {
		out = append(out, []byte(fmt.Sprintf("bid=%04d", i)))
	}
	return out
}

// bruteForce returns the guesses whose SHA-256 is one of the hashes seen.
func bruteForce(seen []string) []string {
	have := map[string]bool{}
	for _, h := range seen {
		have[strings.ToLower(h)] = true
	}
	var found []string
	for _, g := range guesses() {
		s := sha256.Sum256(g)
		if have[hex.EncodeToString(s[:])] {
			found = append(found, string(g))
		}
	}
	return found
}

// TestAuditBruteForce: alice's short secret (bid=4217) and a held result
// (yes) are recovered by brute force neither from the audit log, by
// mallory who may read neither, nor from the receipt, by dave who ran the
// program but may not read its input nor, while held, its output; the
// read dave was refused by the hold logs nothing of the content. alice
// can still check that the receipt names her bytes, with the salt her
// write was answered.
func TestAuditBruteForce(t *testing.T) {
	w := heldWorld(t)
	w.uploadPrograms(t)
	ctx := context.Background()
	alice, dave, mallory := w.dial(t, "alice"), w.dial(t, "dave"), w.dial(t, "mallory")
	var receipts []receipt.Receipt
	var opened *client.FileInfo
	for _, secret := range []string{"bid=4217", "yes"} {
		fi, err := alice.Put(ctx, "/input/alice.dat", strings.NewReader(secret))
		if err != nil {
			t.Fatal(err)
		}
		if secret == "bid=4217" {
			opened = fi
		}
		res, err := dave.Run(ctx, pCopy)
		if err != nil {
			t.Fatalf("dave's run: %v", err)
		}
		receipts = append(receipts, res.Receipt)
		if _, err := dave.Get(ctx, "/output/copy.dat", io.Discard); !errors.Is(err, client.ErrHeld) {
			t.Fatalf("dave reads the held copy: %v", err)
		}
	}
	l, err := mallory.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	for _, e := range l.Entries {
		logged = append(logged, e.Hashes...)
		if e.Action == "read" && e.Outcome == api.ProblemHeld && len(e.Hashes) > 0 {
			t.Errorf("entry %d: a read refused by the hold logs %v", e.Seq, e.Hashes)
		}
	}
	if found := bruteForce(logged); len(found) > 0 {
		t.Errorf("mallory, with no right on any of it, recovers %q from the audit log", found)
	}
	var named []string
	for _, rc := range receipts {
		for _, f := range append(rc.Inputs, rc.Outputs...) {
			named = append(named, f.Commitment)
		}
	}
	b, _ := json.Marshal(receipts)
	var raw []map[string]any
	_ = json.Unmarshal(b, &raw)
	for _, r := range raw {
		for _, k := range []string{"inputs", "outputs"} {
			fs, _ := r[k].([]any)
			for _, f := range fs {
				for _, v := range f.(map[string]any) {
					if s, ok := v.(string); ok {
						named = append(named, s)
					}
				}
			}
		}
	}
	if found := bruteForce(named); len(found) > 0 {
		t.Errorf("dave, who may read neither, recovers %q from his receipts", found)
	}
	if opened == nil || opened.Salt == "" {
		t.Fatalf("alice's write was answered without the salt of her version: %+v", opened)
	}
	if err := receipt.Open(&receipts[0], true, "/input/alice.dat", opened.Salt, strings.NewReader("bid=4217")); err != nil {
		t.Fatalf("alice cannot check the receipt names her input: %v", err)
	}
	for _, g := range guesses()[:50] {
		if receipt.Open(&receipts[0], true, "/input/alice.dat", opened.Salt, bytes.NewReader(g)) == nil {
			t.Fatalf("the receipt opens to %q too", g)
		}
	}
}

// TestHeldFileViaStdout: a program that may read the held copy but not
// write it prints it; whoever ran it (dave, who may not read the copy
// while it is held) gets neither stdout nor stderr.
func TestHeldFileViaStdout(t *testing.T) {
	w := heldWorld(t)
	w.uploadPrograms(t)
	oscar := w.dial(t, "oscar")
	if _, err := oscar.Put(context.Background(), pCat, bytes.NewReader(hostile(t))); err != nil {
		t.Fatal(err)
	}
	const secret = "the held result: yes"
	w.put(t, "alice", "/input/alice.dat", []byte(secret))
	dave := w.dial(t, "dave")
	if _, err := dave.Run(context.Background(), pCopy); err != nil {
		t.Fatal(err)
	}
	res, err := dave.Run(context.Background(), pCat)
	if err != nil && res == nil {
		t.Fatal(err)
	}
	if bytes.Contains(res.Stdout, []byte(secret)) || bytes.Contains(res.Stderr, []byte(secret)) {
		t.Fatalf("dave reads the held file through the program's output: stdout %q, stderr %q", res.Stdout, res.Stderr)
	}
	if _, err := dave.Get(context.Background(), "/output/copy.dat", io.Discard); !errors.Is(err, client.ErrHeld) {
		t.Fatalf("the copy is not held: %v", err)
	}
}

// flood has mallory, who may read none of them, ask for alice's file n
// times from workers sessions, and returns how long it took.
func (w *world) flood(t *testing.T, n, workers int) time.Duration {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad error
	for k := 0; k < workers; k++ {
		s := w.dial(t, "mallory")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < n; i += workers {
				if _, err := s.Get(context.Background(), "/input/alice.dat", io.Discard); !errors.Is(err, client.ErrForbidden) {
					mu.Lock()
					bad = fmt.Errorf("request %d: %v, want forbidden", i, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if bad != nil {
		t.Fatal(bad)
	}
	return time.Since(start)
}

// rawAudit reads one answer of GET /v1/audit as principal n and returns
// its size and what it holds.
func (w *world) rawAudit(t *testing.T, n string) (int, api.AuditLog) {
	t.Helper()
	resp, err := w.httpClient(n).Get(w.base() + api.PathAudit)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var l api.AuditLog
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatalf("GET /v1/audit: %v: %.200s", err, b)
	}
	return len(b), l
}

// maxPageBytes bounds one answer of GET /v1/audit: a page of entries of
// mallory's refused reads, with room to spare.
const maxPageBytes = audit.MaxPage * 1024

// TestAuditPaged: after thousands of mallory's requests, one GET of the
// audit log answers a bounded page; the SDK reads the whole log page by
// page into one the enclave's checkpoint covers.
func TestAuditPaged(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.put(t, "alice", "/input/alice.dat", []byte("bid=4217"))
	took := w.flood(t, 3000, 8)
	size, page := w.rawAudit(t, "rita")
	t.Logf("3000 refused reads in %v; one GET /v1/audit: %d bytes, %d entries", took, size, len(page.Entries))
	if len(page.Entries) > audit.MaxPage || size > maxPageBytes {
		t.Fatalf("one GET /v1/audit answers %d entries in %d bytes (at most %d entries, %d bytes)", len(page.Entries), size, audit.MaxPage, maxPageBytes)
	}
	s := w.dial(t, "rita")
	l, err := s.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, chain := s.Enclave()
	if err := audit.VerifyCheckpoint(l.Checkpoint, chain[0].PublicKey.(*ecdsa.PublicKey), l.Entries); err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) < 3000 {
		t.Fatalf("the paged log holds %d entries", len(l.Entries))
	}
	w.works(t, "after the flood")
}

// TestAuditFlood: 100,000 of mallory's refused requests leave the
// runtime's memory bounded: the audit log keeps within its budget (the
// oldest entries folded away), no answer of GET /v1/audit grows with it,
// and the runtime still serves. The runtime's peak resident memory is
// logged.
func TestAuditFlood(t *testing.T) {
	long(t)
	w := startWorld(t, worldOptions{})
	w.put(t, "alice", "/input/alice.dat", []byte("bid=4217"))
	rtPid := w.runtimePID(t)
	before := rss(rtPid)
	var peak atomic.Int64
	peak.Store(before)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
				if r := rss(rtPid); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	const n = 100000
	took := w.flood(t, n, 16)
	close(done)
	<-stopped
	after := rss(rtPid)
	size, page := w.rawAudit(t, "rita")
	l, err := w.dial(t, "rita").Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	held := l.Checkpoint.Size - l.Checkpoint.From
	t.Logf("%d refused reads in %v: runtime RSS %d MiB before, %d MiB peak, %d MiB after; one GET /v1/audit %d bytes (%d entries); the log holds %d of %d entries (from %d)",
		n, took, before>>20, peak.Load()>>20, after>>20, size, len(page.Entries), held, l.Checkpoint.Total, l.Checkpoint.From)
	if size > maxPageBytes {
		t.Errorf("one GET /v1/audit answers %d bytes", size)
	}
	// An entry of a refused read costs more than 256 bytes of the budget.
	if most := uint64(audit.DefaultBudget / 256); held > most {
		t.Errorf("the log holds %d entries, more than its budget of %d bytes allows (%d)", held, audit.DefaultBudget, most)
	}
	if grew := peak.Load() - before; grew > 64<<20 {
		t.Errorf("the runtime grew by %d MiB under the flood", grew>>20)
	}
	w.works(t, "after the flood")
}

// TestAppendAnswerBruteForce: mallory may append to the shared log but
// not read it. alice appends her short secret; mallory appends a byte,
// and from the answer to her append (which names the whole file) she
// recovers nothing: no plain hash, no salt of the whole, only the
// commitment.
func TestAppendAnswerBruteForce(t *testing.T) {
	w := startWorld(t, worldOptions{name: "append", extra: map[string]map[string]string{"mallory": {"/input/log.dat": "a"}}})
	ctx := context.Background()
	if _, err := w.dial(t, "alice").Append(ctx, "/input/log.dat", strings.NewReader("bid=4217")); err != nil {
		t.Fatal(err)
	}
	fi, err := w.dial(t, "mallory").Append(ctx, "/input/log.dat", strings.NewReader("!"))
	if err != nil {
		t.Fatal(err)
	}
	var tried []string
	for _, g := range guesses() {
		whole := append(append([]byte(nil), g...), '!')
		s := sha256.Sum256(whole)
		if strings.EqualFold(fi.SHA256, hex.EncodeToString(s[:])) {
			t.Fatalf("mallory recovers %q from the plain hash answered to her append", g)
		}
		if fi.Salt != "" && audit.Open(fi.Commitment, fi.Salt, bytes.NewReader(whole)) == nil {
			t.Fatalf("mallory recovers %q with the salt answered to her append", g)
		}
		tried = append(tried, string(g))
	}
	if fi.SHA256 != "" || fi.Salt != "" {
		t.Fatalf("the append answers a hash or salt of the whole file to one who may not read it: %+v", fi)
	}
	var got bytes.Buffer
	if _, err := w.dial(t, "rita").Get(ctx, "/input/log.dat", &got); err != nil || got.String() != "bid=4217!" {
		t.Fatalf("the log holds %q, %v", got.String(), err)
	}
	t.Logf("%d guesses, none checkable", len(tried))
}
