package runtime

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/shamir"
	sss "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/policy"
)

// putShares splits secret afresh and writes the shares as their owners,
// each write answered with status.
func (w *world) putShares(secret []byte, status int) {
	w.t.Helper()
	shares, err := sss.Split(secret, 3, 3, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	alice := w.client("alice", true)
	alice.put("/input/shamir-0.dat", shares[0], status)
	alice.put("/input/shamir-1.dat", shares[1], status)
	w.client("bob", false).put("/input/shamir-2.dat", shares[2], status)
}

// outputCommitment returns the commitment a receipt names gp by.
func outputCommitment(t *testing.T, res *api.RunResult, gp string) string {
	t.Helper()
	for _, f := range res.Receipt.Outputs {
		if f.Path == gp {
			return f.Commitment
		}
	}
	t.Fatalf("the receipt names no output %s: %+v", gp, res.Receipt.Outputs)
	return ""
}

// TestAttackRunRewriteKeepsCommitment: the data owners split the same
// secret twice, with fresh shares, and rita combines each time. Before the
// fix, the second run wrote the very bytes of the first and the runtime
// kept the first version's commitment (commitCurrent compared contents),
// so the receipt and every logged read of /output/shamir.dat named it by
// the same commitment: bob, who may not read the output, saw in the audit
// log that the combined secret had not changed although every share had
// (a principal's rewrite of the same bytes, by contrast, always drew a
// fresh salt). Now every file a run rewrites is a new version.
func TestAttackRunRewriteKeepsCommitment(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	w.client("paula", true).put(pShamir, shamir.Wasm, http.StatusCreated)
	rita := w.client("rita", true)
	secret := []byte("yes")
	w.putShares(secret, http.StatusCreated)
	first := outputCommitment(t, rita.run(pShamir, http.StatusOK), "/output/shamir.dat")
	if got := rita.get("/output/shamir.dat"); !bytes.Equal(got, secret) {
		t.Fatalf("combined %q", got)
	}
	w.putShares(secret, http.StatusOK)
	res := rita.run(pShamir, http.StatusOK)
	second := outputCommitment(t, res, "/output/shamir.dat")
	got := rita.get("/output/shamir.dat")
	if first == second {
		t.Errorf("the rewritten output kept its commitment %s: whoever sees the receipts or the log learns the result did not change", first)
	}
	if err := audit.Open(second, rita.salt("/output/shamir.dat"), bytes.NewReader(got)); err != nil {
		t.Errorf("the reader's salt does not open the commitment the receipt names: %v", err)
	}
	// What bob sees: the commitments of rita's reads of the output.
	var reads []string
	for _, e := range w.client("bob", false).auditLog("").Entries {
		if e.Action == "read" && e.Path == "/output/shamir.dat" && e.Outcome == "ok" && len(e.Hashes) == 1 {
			reads = append(reads, e.Hashes[0])
		}
	}
	if len(reads) < 2 {
		t.Fatalf("the log holds %d reads of the output", len(reads))
	}
	if reads[0] == reads[len(reads)-1] {
		t.Errorf("bob sees the reads after both runs named by the same commitment %s", reads[0])
	}
	// A run that does not touch a file leaves its version alone: pFail
	// may write /output/ but writes nothing there.
	w.client("paula", true).put(pFail, w.misWasm, http.StatusCreated)
	before := rita.salt("/output/shamir.dat")
	rita.run(pFail, http.StatusUnprocessableEntity)
	if after := rita.salt("/output/shamir.dat"); after != before {
		t.Errorf("a run that did not write the output changed its version (salt %s, then %s)", before, after)
	}
}

// TestAttackAppendSizeLeak: mallory's stand-in, bob, may append to the
// shared log but not read it; alice appends her short secret. Before the
// fix, the answer to bob's append named the size of the whole file (9
// bytes after his 1: alice's bid is 8 bytes), and his append that passed
// the per-file limit was refused with the size the file would have had,
// which less what he sent is the size of the others' appends. Now he is
// told the bytes he added, and which limit, only.
func TestAttackAppendSizeLeak(t *testing.T) {
	const log = "/input/log.dat"
	w := newWorld(t, worldOptions{fileMiB: 1, caps: map[string]capability.Set{
		"alice": {log: capability.Append | capability.Read},
		"bob":   {log: capability.Append},
	}})
	w.start()
	alice, bob := w.client("alice", true), w.client("bob", false)
	alice.must(http.MethodPost, api.PathFiles+strings.TrimPrefix(log, "/"), []byte("bid=4217"), http.StatusOK)
	r := bob.must(http.MethodPost, api.PathFiles+strings.TrimPrefix(log, "/"), []byte("!"), http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"size":1,`)) {
		t.Errorf("bob's append of 1 byte is answered %s: the size of the whole gives the length of alice's", r.body)
	}
	big := bytes.Repeat([]byte("x"), 1<<20-4)
	p := bob.refused(http.MethodPost, api.PathFiles+strings.TrimPrefix(log, "/"), big, http.StatusRequestEntityTooLarge, api.ProblemLimitExceeded)
	if strings.Contains(p.Detail, strconv.Itoa(9+len(big))) {
		t.Errorf("bob's refused append tells the size the file would have had: %s", p.Detail)
	}
	// alice, who may read it, still gets the whole.
	r = alice.must(http.MethodPost, api.PathFiles+strings.TrimPrefix(log, "/"), []byte("?"), http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"size":10,`)) {
		t.Errorf("alice's append is answered %s", r.body)
	}
}

// TestAttackAuditPagingEdges: bob, who may read nothing of the others',
// pages the audit log with values no client sends: negative, past the
// end, past 2^63, a limit far above the page bound. Each is refused as a
// bad request or answered within the bound, never a panic, an entry
// twice or an entry past the end; the checkpoint of a page past the end
// covers the log as held. It guards the property; no edge case broke it.
func TestAttackAuditPagingEdges(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	bob := w.client("bob", false)
	for range 5 {
		bob.refused(http.MethodGet, api.PathFiles+"output/shamir.dat", nil, http.StatusForbidden, api.ProblemForbidden)
	}
	for _, q := range []string{"after=-1", "after=abc", "after=18446744073709551615", "after=9223372036854775808",
		"limit=-1", "limit=1e3", "limit=99999999999999999999", "after=%00", "after=+1"} {
		bob.refused(http.MethodGet, api.PathAudit+"?"+q, nil, http.StatusBadRequest, api.ProblemBadRequest)
	}
	all := bob.auditLog("")
	n := uint64(len(all.Entries))
	if n == 0 || all.Checkpoint == nil || all.Checkpoint.Total != n {
		t.Fatalf("the whole log: %d entries, checkpoint %+v", n, all.Checkpoint)
	}
	for _, tc := range []struct {
		q         string
		from, max uint64 // the first seq expected, the most entries
	}{
		{"?after=9223372036854775807", 0, 0},
		{"?after=" + strconv.FormatUint(n+5, 10), 0, 0},
		{"?after=0&limit=1", 1, 1},
		{"?limit=99999999999", 0, audit.MaxPage},
		{"?limit=0", 0, audit.MaxPage},
		{"?after=2&limit=2", 3, 2},
	} {
		l := bob.auditLog(tc.q)
		if uint64(len(l.Entries)) > tc.max {
			t.Errorf("%s: %d entries, at most %d expected", tc.q, len(l.Entries), tc.max)
		}
		for i, e := range l.Entries {
			if e.Seq != tc.from+uint64(i) {
				t.Errorf("%s: entry %d has seq %d, want %d", tc.q, i, e.Seq, tc.from+uint64(i))
			}
		}
		if cp := l.Checkpoint; cp == nil || cp.Size > cp.Total || cp.From > cp.Size {
			t.Errorf("%s: checkpoint %+v", tc.q, cp)
		} else if tc.max == 0 && cp.Size != cp.Total {
			t.Errorf("%s: a page past the end is checkpointed at %d of %d", tc.q, cp.Size, cp.Total)
		}
	}
}

// TestAttackTotalQuotaRevealsUsage: bob may write only his own files.
// Before the fix, a write of his refused by total_mib was answered with
// the bytes the file system would have held, so by sending one too large
// before and after alice's upload he learnt the length of her data (the
// difference, less the public charge of an entry), and the total of
// everyone's. Now the refusal names the limit only.
func TestAttackTotalQuotaRevealsUsage(t *testing.T) {
	w := newWorld(t, worldOptions{fileMiB: 1, totalMiB: 1})
	w.start()
	bob := w.client("bob", false)
	w.client("alice", true).put("/input/shamir-0.dat", bytes.Repeat([]byte("s"), 777), http.StatusCreated)
	p := bob.refused(http.MethodPut, api.PathFiles+"data/big.dat", make([]byte, 1<<20), http.StatusRequestEntityTooLarge, api.ProblemLimitExceeded)
	for _, word := range strings.Fields(p.Detail) {
		if n, err := strconv.ParseInt(strings.TrimRight(word, ",:"), 10, 64); err == nil && n > 1<<20 {
			t.Errorf("bob's refused write tells him the file system would hold %d bytes, %d beyond his own: %s", n, n-1<<20, p.Detail)
		}
	}
}

// TestAttackReadDuringCommitBreaksReceipt: rita, who may read /output/,
// reads a run's output over and over while the run ends. A read that fell
// between the hashing of the run's outputs (in its overlay) and their
// commit found the version table naming the run's new content, not the
// old content it read, and replaced it by a fresh version of the old
// content; after the commit the next read found that one, not the new
// content's, and drew yet another: the commitment the receipt names was
// never answered to any reader, so no one could check the receipt named
// the output they read. The step is made deterministic here by calling
// the runtime's own functions in the order the race takes.
func TestAttackReadDuringCommitBreaksReceipt(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	rt := w.rt
	const gp = "/output/r.dat"
	if _, err := rt.admin.WriteFile(gp, strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.openFile(gp); err != nil {
		t.Fatal(err)
	}
	caps := capability.Set{"/output/": capability.Read | capability.Write}
	ov, err := rt.fs.Overlay(caps)
	if err != nil {
		t.Fatal(err)
	}
	defer ov.Discard()
	before := stamps(ov.FS(), caps, capability.Write)
	if _, err := ov.FS().Unchecked().WriteFile(gp, strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	outs := rt.filesSince(ov.FS(), caps, capability.Write, before)
	if len(outs) != 1 {
		t.Fatalf("outputs %+v", outs)
	}
	// rita's read, between the hashing and the commit: the old content.
	old, err := rt.openFile(gp)
	if err != nil {
		t.Fatal(err)
	}
	if err := ov.Commit(); err != nil {
		t.Fatal(err)
	}
	now, err := rt.openFile(gp)
	if err != nil {
		t.Fatal(err)
	}
	if now.commit != outs[0].Commitment {
		t.Errorf("after the commit a read is answered commitment %s, the receipt names %s: no reader can open it", now.commit, outs[0].Commitment)
	}
	if old.commit == outs[0].Commitment {
		t.Errorf("the read before the commit, of the old content, was answered the new version's commitment")
	}
}

// TestAttackWriteSnapshotsHeldUntilGC: the answer to every write hashed
// the new content through a snapshot it never closed, so each version a
// principal wrote stayed charged against total_mib, once replaced, until
// the garbage collector happened to run the snapshot's cleanup. With the
// collector quiet (here: turned off, as under a heap that does not grow
// much), alice's third rewrite of a 2 MiB file under total_mib=5 was
// refused, and so were everyone's writes, though the file system held
// one version of 2 MiB.
func TestAttackWriteSnapshotsHeldUntilGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	w := newWorld(t, worldOptions{fileMiB: 2, totalMiB: 5})
	w.start()
	alice := w.client("alice", true)
	body := bytes.Repeat([]byte("v"), 2<<20-4096)
	alice.put("/input/shamir-0.dat", body, http.StatusCreated)
	for i := range 6 {
		r, err := alice.do(http.MethodPut, api.PathFiles+"input/shamir-0.dat", body)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != http.StatusOK {
			t.Fatalf("rewrite %d of a 2 MiB file under total_mib=5: status %d: %s (the file system holds %d bytes of buffers)", i+1, r.status, r.body, w.rt.fs.Used())
		}
	}
}

// TestAttackReleaseOutlivesRewrite: /output/ is held until alice releases
// it. She releases the combined secret of one run; the data owners split
// the same secret afresh and rita combines again. Before the fix the
// release was bound to the content's hash, so it still counted for the
// second run's output and rita's read of it succeeded, while a different
// secret would have been held: bob, who may read nothing of it, saw in
// the audit log (a read "ok", not "held") that the new result equalled
// the released one. Now a release is bound to the version it names: every
// run's output is held until released again.
func TestAttackReleaseOutlivesRewrite(t *testing.T) {
	w := newWorld(t, worldOptions{holds: []policy.Hold{{Path: "/output/", ReleaseBy: []string{"alice"}}}})
	w.start()
	w.client("paula", true).put(pShamir, shamir.Wasm, http.StatusCreated)
	alice, rita := w.client("alice", true), w.client("rita", true)
	secret := []byte("yes")
	w.putShares(secret, http.StatusCreated)
	rita.run(pShamir, http.StatusOK)
	rita.refused(http.MethodGet, api.PathFiles+"output/shamir.dat", nil, http.StatusForbidden, api.ProblemHeld)
	alice.must(http.MethodPost, api.PathRelease+"output/shamir.dat", nil, http.StatusOK)
	if got := rita.get("/output/shamir.dat"); !bytes.Equal(got, secret) {
		t.Fatalf("released %q", got)
	}
	w.putShares(secret, http.StatusOK)
	rita.run(pShamir, http.StatusOK)
	r, err := rita.do(http.MethodGet, api.PathFiles+"output/shamir.dat", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusForbidden || r.problem == nil || r.problem.Name() != api.ProblemHeld {
		t.Errorf("the second run's output, never released, is answered %d: the log tells bob it equals the released one", r.status)
	}
	// Released again, it is read.
	alice.must(http.MethodPost, api.PathRelease+"output/shamir.dat", nil, http.StatusOK)
	if got := rita.get("/output/shamir.dat"); !bytes.Equal(got, secret) {
		t.Fatalf("released %q", got)
	}
}

// TestAttackOtherRunForgetsVersions: two runs end at nearly the same
// time. The first has hashed a new file of its overlay (its receipt names
// it) but not yet committed it; the second, ending, drops the versions of
// files that do not exist, and the new file did not exist yet outside the
// first run's overlay. After the first run's commit, readers got a fresh
// commitment of the file, not the one its receipt names. Now a version is
// forgotten only when no run in progress holds the file either.
func TestAttackOtherRunForgetsVersions(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	rt := w.rt
	const gp = "/output/new.dat"
	caps := capability.Set{"/output/": capability.Read | capability.Write}
	if err := rt.admin.MkdirAll("/output"); err != nil {
		t.Fatal(err)
	}
	ov, err := rt.fs.Overlay(caps)
	if err != nil {
		t.Fatal(err)
	}
	defer ov.Discard()
	before := stamps(ov.FS(), caps, capability.Write)
	if _, err := ov.FS().Unchecked().WriteFile(gp, strings.NewReader("made by the run")); err != nil {
		t.Fatal(err)
	}
	outs := rt.filesSince(ov.FS(), caps, capability.Write, before)
	if len(outs) != 1 {
		t.Fatalf("outputs %+v", outs)
	}
	rt.forgetVersions() // the other run's end
	if err := ov.Commit(); err != nil {
		t.Fatal(err)
	}
	o, err := rt.openFile(gp)
	if err != nil {
		t.Fatal(err)
	}
	if o.commit != outs[0].Commitment {
		t.Errorf("after the commit a read is answered commitment %s, the receipt names %s", o.commit, outs[0].Commitment)
	}
}

// TestAttackProgramUploadsUncharged: paula, who may write programs,
// sends eight uploads of 8 MiB (the per-file limit) to a program path at
// once, and keeps each open before its last byte. A program's upload was
// read whole into memory (to check its pin) before the file system saw
// it, charged to nothing: with total_mib=8 the runtime held 64 MiB and
// more of her bytes, and with the default limits up to 64 requests of
// file_mib each. Now a program's bytes are reserved against total_mib as
// they arrive, like any upload's, and the uploads past it are refused.
func TestAttackProgramUploadsUncharged(t *testing.T) {
	const mib, uploads = 1 << 20, 8
	w := newWorld(t, worldOptions{fileMiB: 8, totalMiB: 8})
	w.start()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	paula := w.client("paula", false)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	statuses := make(chan int, uploads)
	for range uploads {
		pr, pw := io.Pipe()
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPut, "https://enclave"+api.PathFiles+"program/shamir.wasm", pr)
			resp, err := paula.hc.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses <- resp.StatusCode
			}
		})
		wg.Go(func() {
			defer pw.Close()
			chunk := bytes.Repeat([]byte("p"), 64<<10)
			for sent := 0; sent+len(chunk) < 8*mib; sent += len(chunk) {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			<-stop
		})
	}
	time.Sleep(3 * time.Second)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grew := int64(ms.HeapInuse) - int64(base)
	close(stop)
	wg.Wait()
	close(statuses)
	refused := 0
	for s := range statuses {
		if s == http.StatusRequestEntityTooLarge {
			refused++
		}
	}
	t.Logf("heap grew by %d MiB under %d open 8 MiB program uploads (total_mib=8); %d refused by a size limit", grew/mib, uploads, refused)
	if grew > 24*mib {
		t.Errorf("the runtime holds %d MiB of paula's unfinished program uploads under total_mib=8", grew/mib)
	}
}

// TestAttackSuccessorBodiesUncharged: a proposal for a successor policy
// may be 13 MiB, and its body was read whole before anything else, for
// every request: bob, who has no say in the lifecycle, kept eight such
// bodies arriving at once, and the runtime held them all, beyond anything
// total_mib counts (with 64 requests per principal, about 1.6 GiB from
// each principal). Now one principal has one proposal arriving at a time;
// the others are refused at once.
func TestAttackSuccessorBodiesUncharged(t *testing.T) {
	const mib, bodies = 1 << 20, 8
	w := newWorld(t, worldOptions{})
	w.start()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	bob := w.client("bob", false)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range bodies {
		pr, pw := io.Pipe()
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, "https://enclave"+api.PathPolicySuccessor, pr)
			if resp, err := bob.hc.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			pr.CloseWithError(io.ErrClosedPipe) // stops the writer of a refused body
		})
		wg.Go(func() {
			defer pw.Close()
			chunk := bytes.Repeat([]byte(" "), 64<<10)
			for sent := 0; sent < 12*mib; sent += len(chunk) {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			<-stop
		})
	}
	time.Sleep(3 * time.Second)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	grew := int64(ms.HeapInuse) - int64(base)
	close(stop)
	wg.Wait()
	t.Logf("heap grew by %d MiB under %d open 12 MiB successor proposals", grew/mib, bodies)
	if grew > 48*mib {
		t.Errorf("the runtime holds %d MiB of bob's unfinished successor proposals", grew/mib)
	}
}
