package attack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment/deploymenttest"
	"github.com/truce-project/truce/policy"
)

// Limits of the guest-memory world: enough memory for the guest's 64 MiB
// buffer, small file quotas.
const (
	gmMemMiB   = 128
	gmFileMiB  = 8
	gmTotalMiB = 48
	// gmSlackMiB is how far above its limits the runtime's peak memory
	// may go: the goal of issue 17.
	gmSlackMiB = 64
)

// guestmem is the guest of testdata/guestmem.
func guestmem(t testing.TB) []byte { return guestmemGuest.get(t) }

// wasmMod is a module written by hand for the memory attacks: memories
// and tables of the given minimum (and maximum, if max > 0), and a
// _start that grows each memory to grow pages and fills each memory and
// table, so that what the engine gave is really in use.
type wasmMod struct {
	memories, tables int
	memMin, memMax   uint64
	tabMin           uint64
	grow             int32
	noMemory         bool
}

func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func sleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func sect(b []byte, id byte, body []byte) []byte {
	return append(uleb(append(b, id), uint64(len(body))), body...)
}

func wname(b []byte, s string) []byte { return append(uleb(b, uint64(len(s))), s...) }

func (w wasmMod) encode() []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = sect(b, 1, []byte{1, 0x60, 0, 0})
	b = sect(b, 3, []byte{1, 0})
	if w.tables > 0 {
		t := uleb(nil, uint64(w.tables))
		for range w.tables {
			t = uleb(append(t, 0x70, 0), w.tabMin)
		}
		b = sect(b, 4, t)
	}
	if w.memories > 0 {
		m := uleb(nil, uint64(w.memories))
		for range w.memories {
			m = uleb(append(m, 1), w.memMin)
			m = uleb(m, w.memMax)
		}
		b = sect(b, 5, m)
	}
	ex := wname([]byte{1}, "_start")
	ex = append(ex, 0, 0)
	if w.memories > 0 {
		ex[0] = 2
		ex = append(wname(ex, "memory"), 2, 0)
	}
	b = sect(b, 7, ex)
	code := []byte{0}
	for i := range w.memories {
		code = sleb(append(code, 0x41), int64(w.grow))
		code = append(uleb(append(code, 0x40), uint64(i)), 0x1a)
		// memory.fill i (0, 1, memory.size i * 65536)
		code = append(code, 0x41, 0, 0x41, 1)
		code = uleb(append(code, 0x3f), uint64(i))
		code = append(code, 0x41, 16, 0x74)
		code = uleb(append(code, 0xfc, 0x0b), uint64(i))
	}
	for i := range w.tables {
		// table.fill i (0, ref.null func, table.size i)
		code = append(code, 0x41, 0, 0xd0, 0x70)
		code = uleb(append(code, 0xfc, 0x10), uint64(i))
		code = uleb(append(code, 0xfc, 0x11), uint64(i))
	}
	code = append(code, 0x0b)
	return sect(b, 10, append([]byte{1}, append(uleb(nil, uint64(len(code))), code...)...))
}

// The programs of the guest-memory world.
var gmPrograms = map[string]func(t testing.TB) []byte{
	"/program/fdbomb.wasm":   guestmem,
	"/program/readbomb.wasm": guestmem,
	// Eight memories, each grown to the whole limit: 8 × 128 MiB.
	"/program/memories.wasm": func(testing.TB) []byte {
		return wasmMod{memories: 8, memMin: 1, memMax: gmMemMiB << 4, grow: gmMemMiB<<4 - 1}.encode()
	},
	// Ninety tables of 2^20 entries (8 MiB each): 720 MiB of tables.
	"/program/tables.wasm": func(testing.TB) []byte {
		return wasmMod{memories: 1, memMin: 1, memMax: 1, tables: 90, tabMin: 1 << 20}.encode()
	},
	// Memory and tables that fit the budget: it must still run.
	"/program/fits.wasm": func(testing.TB) []byte {
		return wasmMod{memories: 1, memMin: 1, memMax: 64 << 4, grow: 32 << 4, tables: 2, tabMin: 1 << 16}.encode()
	},
}

// gmWorld is a world whose policy pins the programs of gmPrograms.
func gmWorld(t *testing.T) *world {
	t.Helper()
	ps := startPAS(t)
	w := &world{dir: t.TempDir(), ids: map[string]*identity.Identity{}, ps: ps, addr: deploymenttest.FreeAddr(t)}
	caps := map[string]map[string]string{
		"alice": {"/input/alice.dat": "w"},
		"oscar": {"/program/": "w"},
		"dave":  {"/program/": "x", "/output/": "r"},
		"rita":  {"/": "r"},
	}
	var principals []any
	for _, n := range []string{"alice", "oscar", "dave", "rita"} {
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.ids[n] = id
		principals = append(principals, map[string]any{"name": n, "cert": string(id.CertPEM()), "capabilities": caps[n]})
	}
	var progs []any
	for p, wasm := range gmPrograms {
		sum := sha256.Sum256(wasm(t))
		progs = append(progs, map[string]any{"path": p, "sha256": hex.EncodeToString(sum[:]),
			"capabilities": map[string]string{"/output/guestmem/": "rw"}})
	}
	doc := map[string]any{
		"version": 1, "name": "guest-memory", "expires": time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339),
		"host": w.addr,
		"attestation": map[string]any{"service": ps.URL, "ca_cert": string(ps.CACert),
			"runtimes": []any{map[string]string{"platform": "sim", "measurement": hex.EncodeToString(measurement)}}},
		"principals": principals,
		"programs":   progs,
		"limits":     map[string]any{"memory_mib": gmMemMiB, "exec_seconds": 20, "file_mib": gmFileMiB, "total_mib": gmTotalMiB},
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
	s := w.dial(t, "oscar")
	for p, wasm := range gmPrograms {
		if _, err := s.Put(context.Background(), p, bytes.NewReader(wasm(t))); err != nil {
			t.Fatalf("uploading %s: %v", p, err)
		}
	}
	return w
}

// TestGuestMemoryAttacks: guests that attack the runtime's memory through
// WASI (1024 iovecs over a 64 MiB buffer to fd_write, fd_pwrite,
// fd_read, fd_pread, fd_readdir, random_get), through many linear
// memories and through many large tables. Each run ends with a clear
// outcome or refusal, the runtime (the same process) serves on, nothing
// is written past the quotas, and the runtime's peak memory stays within
// its limits (memory_mib + total_mib) and 64 MiB above where it started.
func TestGuestMemoryAttacks(t *testing.T) {
	w := gmWorld(t)
	pid := w.runtimePID(t)
	dave := w.dial(t, "dave")
	ctx := context.Background()
	base := procStatus(pid, "VmRSS")
	bound := base + (gmMemMiB+gmTotalMiB+gmSlackMiB)<<20
	t.Logf("runtime RSS before the attacks: %.1f MiB; bound %.1f MiB (start + memory_mib %d + total_mib %d + %d)",
		float64(base)/(1<<20), float64(bound)/(1<<20), gmMemMiB, gmTotalMiB, gmSlackMiB)
	cases := []struct {
		prog  string
		check func(t *testing.T, res *api.RunResult, err error)
	}{
		{"/program/fdbomb.wasm", func(t *testing.T, res *api.RunResult, err error) {
			if res == nil {
				t.Fatalf("no result: %v", err)
			}
			// EFBIG (22) for each write to a file; stdout is capped.
			if n := strings.Count(string(res.Stdout), "errno 22"); n != 4 {
				t.Fatalf("%d writes refused with EFBIG, want 4: %.400s", n, res.Stdout)
			}
			var b bytes.Buffer
			if _, err := dave.Get(ctx, "/output/guestmem/bomb.dat", &b); err != nil || b.Len() != 0 {
				t.Fatalf("bomb.dat: %d bytes, %v: a refused write wrote", b.Len(), err)
			}
		}},
		{"/program/readbomb.wasm", func(t *testing.T, res *api.RunResult, err error) {
			if err != nil || res == nil || !strings.Contains(string(res.Stdout), "done readbomb") {
				t.Fatalf("readbomb: %v %+v", err, res)
			}
		}},
		{"/program/memories.wasm", func(t *testing.T, res *api.RunResult, err error) {
			if err == nil || !strings.Contains(err.Error(), "linear memories") {
				t.Fatalf("eight memories: %v %+v, want a refusal naming the memories", err, res)
			}
		}},
		{"/program/tables.wasm", func(t *testing.T, res *api.RunResult, err error) {
			if !errors.Is(err, client.ErrProgramFailed) || res == nil || res.Outcome != "memory exceeded" {
				t.Fatalf("ninety tables: %v %+v, want memory exceeded", err, res)
			}
		}},
		{"/program/fits.wasm", func(t *testing.T, res *api.RunResult, err error) {
			if err != nil || res == nil || res.Outcome != "exited" || res.ExitCode != 0 {
				t.Fatalf("a program within its budget: %v %+v", err, res)
			}
		}},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.prog), func(t *testing.T) {
			res, err := dave.Run(ctx, c.prog)
			if w.host.Exited() {
				t.Fatalf("the host exited: %s", w.host.Output())
			}
			c.check(t, res, err)
			if got := w.runtimePID(t); got != pid {
				t.Fatalf("the runtime was restarted (pid %d, was %d)", got, pid)
			}
			w.works(t, "after "+c.prog)
			peak := procStatus(pid, "VmHWM")
			t.Logf("%s: runtime peak RSS so far %.1f MiB (bound %.1f MiB)", c.prog, float64(peak)/(1<<20), float64(bound)/(1<<20))
			if peak > bound {
				t.Errorf("the runtime's peak RSS %.1f MiB is over its limits by more than %d MiB", float64(peak)/(1<<20), gmSlackMiB)
			}
		})
	}
}

// runTruce runs "truce run ARGS" and returns its output, exit code and
// peak RSS.
func runTruce(t *testing.T, dir string, args ...string) (string, int, int64) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var peak int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peak = ru.Maxrss << 10
	}
	return out.String(), cmd.ProcessState.ExitCode(), peak
}

// TestRunGuestMemory: the same attacks on "truce run", on every engine
// the build has: the fd_write bomb under the file system's limits, eight
// memories, ninety tables, and (on wazero) a module with no memory at
// all, which made wazero runs panic. Each ends with truce saying why,
// and truce run's peak memory stays within --mem-mib + --total-mib + 64
// MiB of Go and engine.
func TestRunGuestMemory(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fdbomb := write("fdbomb.wasm", guestmem(t))
	memories := write("memories.wasm", gmPrograms["/program/memories.wasm"](t))
	tables := write("tables.wasm", gmPrograms["/program/tables.wasm"](t))
	nomem := write("nomem.wasm", wasmMod{}.encode())
	out := filepath.Join(dir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	limits := []string{"--mem-mib", strconv.Itoa(gmMemMiB), "--file-mib", strconv.Itoa(gmFileMiB), "--total-mib", strconv.Itoa(gmTotalMiB), "--output-mib", "4"}
	bound := int64(gmMemMiB+gmTotalMiB+gmSlackMiB) << 20
	for _, eng := range []string{"wasmtime", "wazero"} {
		cases := []struct {
			name string
			args []string
			want string // in the output
		}{
			{"fdbomb", []string{"--dir", out + ":/out", fdbomb, "--", "/out"}, "errno 22"},
			{"memories", []string{memories}, "linear memories"},
			{"tables", []string{tables}, "90 tables may take"},
			{"no memory", []string{nomem}, ""},
		}
		for _, c := range cases {
			t.Run(eng+"/"+c.name, func(t *testing.T) {
				args := append(append([]string{"--engine", eng}, limits...), c.args...)
				text, code, peak := runTruce(t, dir, args...)
				t.Logf("truce run --engine %s %s: exit %d, peak RSS %.1f MiB (bound %.1f MiB)", eng, c.name, code, float64(peak)/(1<<20), float64(bound)/(1<<20))
				if strings.Contains(text, "fatal error") || strings.Contains(text, "panic:") || code > 1 {
					t.Fatalf("truce run crashed (exit %d): %.2000s", code, text)
				}
				if !strings.Contains(text, c.want) {
					t.Fatalf("exit %d, output does not say %q: %.2000s", code, c.want, text)
				}
				if c.name == "no memory" && code != 0 {
					t.Fatalf("a module with no memory failed: %.2000s", text)
				}
				if peak > bound {
					t.Errorf("peak RSS %.1f MiB is over --mem-mib + --total-mib + %d MiB", float64(peak)/(1<<20), gmSlackMiB)
				}
			})
		}
	}
	if st, err := os.Stat(filepath.Join(out, "bomb.dat")); err != nil || st.Size() != 0 {
		t.Errorf("bomb.dat written back: %v", err)
	}
}

// TestRunDirSymlinkEscape: "truce run --dir" never follows a symbolic
// link inside the directory out of it: links are skipped when copying in
// (and named), and the program's directory and file at a link's name are
// not written back through it; truce says so and exits with 1.
func TestRunDirSymlinkEscape(t *testing.T) {
	dir := t.TempDir()
	host, outside := filepath.Join(dir, "host"), filepath.Join(dir, "outside")
	for _, d := range []string{host, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(host, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(host, "filelink")); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(dir, "writeback.wasm")
	if err := os.WriteFile(prog, guestmem(t), 0o644); err != nil {
		t.Fatal(err)
	}
	text, code, _ := runTruce(t, dir, "--dir", host+":/data", prog, "--", "/data")
	if code != 1 || !strings.Contains(text, "symbolic link") || !strings.Contains(text, "done writeback") {
		t.Errorf("exit %d, want 1 with the links named: %s", code, text)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Errorf("written outside the directory through a link: %v", ents)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "outside" {
		t.Errorf("the file outside is now %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(host, "fine")); string(b) != "fine" {
		t.Errorf("the program's own file was not written back: %q", b)
	}
}
