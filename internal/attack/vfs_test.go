package attack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment/deploymenttest"
	"github.com/truce-project/truce/policy"
)

// Programs of the file system attacks: the vfsguest under other names.
const (
	pLeak    = "/program/leak.wasm"
	pMany    = "/program/many.wasm"
	pBadName = "/program/badname.wasm"
	pDirs    = "/program/dirs.wasm"
)

// vfsGuest is the guest of testdata/vfsguest.
func vfsGuest(t testing.TB) []byte { return vfsGuestProg.get(t) }

// vfsLimits are the limits of a file system attack's policy.
type vfsLimits struct{ memoryMiB, fileMiB, totalMiB, execSeconds int }

// startVFSWorld starts a PAS and a host serving a policy with the given
// limits, the suite's principals and the vfsguest programs, uploaded.
func startVFSWorld(t *testing.T, lim vfsLimits) *world {
	t.Helper()
	ps := startPAS(t)
	w := &world{dir: t.TempDir(), ids: map[string]*identity.Identity{}, ps: ps, addr: deploymenttest.FreeAddr(t)}
	caps := map[string]map[string]string{
		"alice":   {"/input/alice.dat": "w"},
		"oscar":   {"/program/": "w"},
		"dave":    {"/program/": "x", "/output/": "r"},
		"mallory": {"/input/mallory/": "w"},
		"rita":    {"/": "r"},
	}
	var principals []any
	for _, n := range []string{"alice", "oscar", "dave", "mallory", "rita"} {
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.ids[n] = id
		principals = append(principals, map[string]any{"name": n, "cert": string(id.CertPEM()), "capabilities": caps[n]})
	}
	sum := sha256.Sum256(vfsGuest(t))
	h := hex.EncodeToString(sum[:])
	progs := []any{
		map[string]any{"path": pLeak, "sha256": h, "capabilities": map[string]string{"/input/alice.dat": "r", "/output/leak/": "w"}},
		map[string]any{"path": pMany, "sha256": h, "capabilities": map[string]string{"/output/many/": "w"}},
		map[string]any{"path": pBadName, "sha256": h, "capabilities": map[string]string{"/output/badname/": "w"}},
		map[string]any{"path": pDirs, "sha256": h, "capabilities": map[string]string{"/output/dirs/": "w"}},
	}
	doc := map[string]any{
		"version": 1, "name": "attack-vfs", "expires": time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339),
		"host": w.addr,
		"attestation": map[string]any{"service": ps.URL, "ca_cert": string(ps.CACert),
			"runtimes": []any{map[string]string{"platform": "sim", "measurement": hex.EncodeToString(measurement)}}},
		"principals": principals,
		"programs":   progs,
		"limits": map[string]any{"memory_mib": max(lim.memoryMiB, 64), "exec_seconds": lim.execSeconds,
			"file_mib": lim.fileMiB, "total_mib": lim.totalMiB},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if w.pol, err = policy.Parse(b, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.polFile = filepath.Join(w.dir, "policy.json")
	if err := os.WriteFile(w.polFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	w.serve(t)
	oscar := w.dial(t, "oscar")
	for _, p := range []string{pLeak, pMany, pBadName, pDirs} {
		if _, err := oscar.Put(context.Background(), p, bytes.NewReader(vfsGuest(t))); err != nil {
			t.Fatalf("uploading %s: %v", p, err)
		}
	}
	return w
}

// stalledRead starts a GET of p as n and stops reading once the response
// has begun: the runtime holds that version of the file until the
// connection ends.
func (w *world) stalledRead(t *testing.T, n, p string) func() {
	t.Helper()
	c := w.rawConn(t, n)
	fmt.Fprintf(c, "GET /v1/files%s HTTP/1.1\r\nHost: %s\r\n\r\n", p, c.ConnectionState().ServerName)
	buf := make([]byte, 1)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("the stalled read of %s got no answer: %v", p, err)
	}
	return func() { c.Close() }
}

// TestStalledReadsChargeOldVersions (issue 17, item 4): readers that
// stop reading hold the versions they read while a writer replaces the
// file again and again. The versions they hold are charged against
// total_mib, so replacements past it are refused (saying why), the
// runtime's memory stays within the limit plus a margin, and once the
// readers go, writes succeed again.
func TestStalledReadsChargeOldVersions(t *testing.T) {
	const fileMiB, totalMiB, readers = 20, 64, 12
	w := startVFSWorld(t, vfsLimits{fileMiB: fileMiB, totalMiB: totalMiB, execSeconds: 3})
	ctx := context.Background()
	alice := w.dial(t, "alice")
	version := func(i int) []byte { return bytes.Repeat([]byte{byte('A' + i)}, fileMiB<<20-4096) }
	if _, err := alice.Put(ctx, "/input/alice.dat", bytes.NewReader(version(0))); err != nil {
		t.Fatal(err)
	}
	pid := w.runtimePID(t)
	base := procMem(t, pid, "VmRSS")
	var stops []func()
	accepted, refused, last := 0, 0, 0
	var refusal error
	for i := 1; i <= readers; i++ {
		stops = append(stops, w.stalledRead(t, "rita", "/input/alice.dat"))
		_, err := alice.Put(ctx, "/input/alice.dat", bytes.NewReader(version(i)))
		switch {
		case err == nil:
			accepted++
			last = i
		case errors.Is(err, client.ErrLimitExceeded):
			refused++
			refusal = err
		default:
			t.Fatalf("replacement %d: %v", i, err)
		}
	}
	peak := procMem(t, pid, "VmHWM")
	t.Logf("%d stalled reads of a %d MiB file under total_mib=%d: %d replacements accepted, %d refused; runtime RSS %d MiB before, peak %d MiB (growth %d MiB, limit %d MiB + 64)",
		readers, fileMiB, totalMiB, accepted, refused, base>>20, peak>>20, (peak-base)>>20, totalMiB)
	t.Logf("the refusal: %v", refusal)
	if refused == 0 {
		t.Errorf("every replacement was accepted while %d readers held %d MiB versions under total_mib=%d", readers, fileMiB, totalMiB)
	} else if !strings.Contains(refusal.Error(), "old versions still being read") {
		t.Errorf("the refusal does not say why: %v", refusal)
	}
	if growth := peak - base; growth > (totalMiB+64)<<20 {
		t.Errorf("the runtime grew by %d MiB under total_mib=%d", growth>>20, totalMiB)
	}
	// The file is the last accepted version, whole.
	var got bytes.Buffer
	if _, err := w.dial(t, "rita").Get(ctx, "/input/alice.dat", &got); err != nil || !bytes.Equal(got.Bytes(), version(last)) {
		t.Fatalf("after the attack the file is %d bytes (%v), want version %d", got.Len(), err, last)
	}
	// Once the readers go, their versions are given back.
	for _, stop := range stops {
		stop()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := alice.Put(ctx, "/input/alice.dat", bytes.NewReader(version(1)))
		if err == nil {
			break
		}
		if !errors.Is(err, client.ErrLimitExceeded) || time.Now().After(deadline) {
			t.Fatalf("a replacement after the readers left: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadersNeverSeeIntermediateOutput (issue 17, item 8): a pinned
// program copies a private input to its output, waits, then overwrites
// the output with a public result. A reader of the output polling during
// the run must see the output as it was before the run or as the run
// left it, never the private input in between.
func TestReadersNeverSeeIntermediateOutput(t *testing.T) {
	w := startVFSWorld(t, vfsLimits{fileMiB: 8, totalMiB: 48, execSeconds: 10})
	ctx := context.Background()
	secret := []byte("alice's private input: bid=4217")
	w.put(t, "alice", "/input/alice.dat", secret)
	dave := w.dial(t, "dave")
	done := make(chan error, 1)
	go func() {
		res, err := dave.Run(ctx, pLeak)
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
		}
		done <- err
	}()
	reader := w.dial(t, "dave")
	seen := map[string]int{}
	polls := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the run: %v", err)
			}
			running = false
		default:
		}
		var b bytes.Buffer
		_, err := reader.Get(ctx, "/output/leak/result.dat", &b)
		switch {
		case errors.Is(err, client.ErrNotFound):
			seen["(absent)"]++
		case err != nil:
			t.Fatalf("reading the output during the run: %v", err)
		default:
			seen[b.String()]++
		}
		polls++
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d reads during the run saw: %v", polls, seen)
	if seen[string(secret)] > 0 {
		t.Errorf("%d of %d reads during the run returned the private input", seen[string(secret)], polls)
	}
	for v := range seen {
		if v != "(absent)" && v != "public result" {
			t.Errorf("a read during the run returned %q, neither the output before the run nor after it", v)
		}
	}
	var b bytes.Buffer
	if _, err := reader.Get(ctx, "/output/leak/result.dat", &b); err != nil || b.String() != "public result" {
		t.Fatalf("after the run the output is %q, %v", b.String(), err)
	}
}

// TestManyEmptyEntriesBoundedMemory (issue 17, item 10): a program
// makes empty files, or empty directories, until refused. Each is charged
// at least what it takes on the heap (measured by
// vfs.TestEntryCostCoversHeap: about 340 bytes per empty file, 390 per
// empty directory), so a program can make no more of them than total_mib
// holds at that cost, and the runtime serves on. The runtime's memory
// growth is measured too: for directories it must stay within total_mib
// plus 64 MiB; for files it also holds the run's receipt, which names
// every output (see the log line).
func TestManyEmptyEntriesBoundedMemory(t *testing.T) {
	const totalMiB = 64
	cases := []struct {
		name      string
		prog      string
		heapEach  int64 // bytes of heap each entry takes, measured
		boundRSS  bool
		wantWords string
	}{
		{"files", pMany, 330, false, "files"},
		{"directories", pDirs, 380, true, "directories"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := startVFSWorld(t, vfsLimits{fileMiB: 8, totalMiB: totalMiB, execSeconds: 120})
			ctx := context.Background()
			// Compile the module first (the same for every vfsguest
			// program): compiling takes memory of its own, not measured
			// here.
			if _, err := w.dial(t, "dave").Run(ctx, pBadName); err != nil {
				t.Fatal(err)
			}
			pid := w.runtimePID(t)
			base := procMem(t, pid, "VmRSS")
			start := time.Now()
			res, err := w.dial(t, "dave").Run(ctx, c.prog)
			if err != nil {
				t.Fatalf("the run: %v", err)
			}
			took := time.Since(start)
			peak := procMem(t, pid, "VmHWM")
			out := strings.TrimSpace(string(res.Stdout))
			rj, _ := json.Marshal(res.Receipt)
			t.Logf("%s in %v; runtime RSS %d MiB before, peak %d MiB (growth %d MiB, total_mib %d); the receipt names %d outputs in %d KiB of JSON",
				out, took.Round(time.Millisecond), base>>20, peak>>20, (peak-base)>>20, totalMiB, len(res.Receipt.Outputs), len(rj)>>10)
			var n int64
			if _, err := fmt.Sscanf(out, "refused after %d "+c.wantWords, &n); err != nil {
				t.Fatalf("the program was not refused: %q %s", out, res.Stderr)
			}
			if most := int64(totalMiB<<20) / c.heapEach; n > most {
				t.Errorf("a program made %d empty %s under total_mib=%d: at %d bytes of heap each they take %d MiB",
					n, c.name, totalMiB, c.heapEach, n*c.heapEach>>20)
			}
			if growth := peak - base; c.boundRSS && growth > (totalMiB+64)<<20 {
				t.Errorf("the runtime grew by %d MiB making empty %s under total_mib=%d", growth>>20, c.name, totalMiB)
			}
			w.put(t, "alice", "/input/alice.dat", []byte("still serving"))
		})
	}
}

// TestNamesMustBePrintable (issue 17, suspected): names that are not
// valid UTF-8 would print as U+FFFD in the audit log and receipts, so two
// files could look like one; control characters and direction marks
// would make them look like others. They are refused, through the API
// and through WASI, with a clear error.
func TestNamesMustBePrintable(t *testing.T) {
	w := startVFSWorld(t, vfsLimits{fileMiB: 8, totalMiB: 48, execSeconds: 10})
	for _, p := range []string{"a%FF", "a%FE", "a%C0%AF", "tab%09name", "esc%1B%5B2J", "rlo%E2%80%AEtxt.exe"} {
		t.Run(p, func(t *testing.T) {
			code, body := w.rawRequest(t, "mallory", "PUT", "/v1/files/input/mallory/"+p, []byte("x"))
			if code != 400 || !strings.Contains(body, "UTF-8") {
				t.Errorf("PUT %s: %d %s, want a 400 saying names must be valid UTF-8", p, code, body)
			}
		})
	}
	var b bytes.Buffer
	if _, err := w.dial(t, "rita").Get(context.Background(), "/input/mallory/a\uFFFD", &b); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("a file prints as /input/mallory/a\uFFFD: %v", err)
	}
	res, err := w.dial(t, "dave").Run(context.Background(), pBadName)
	if err != nil {
		t.Fatalf("the guest: %v", err)
	}
	t.Logf("guest: %s", res.Stdout)
	if bytes.Contains(res.Stdout, []byte("LEAK")) || !bytes.Contains(res.Stdout, []byte("refused")) {
		t.Errorf("a guest made files with unprintable names: %s", res.Stdout)
	}
	for _, f := range res.Receipt.Outputs {
		if strings.HasPrefix(f.Path, "/output/badname/") {
			t.Errorf("the receipt names %q", f.Path)
		}
	}
}
