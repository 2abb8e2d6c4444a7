package engine

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/guests"
	"github.com/truce-project/truce/internal/hostdir"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/internal/wasi"
)

// transcript is everything a conformance program shows: its output, exit
// code and the files it left behind.
type transcript struct {
	stdout, stderr string
	code           uint32
	files          string // "path size content-prefix" lines, sorted
}

var conformArgs = []string{"/data", "one", "two words"}
var conformEnv = []string{"CONFORM_A=x", "CONFORM_B=y z", "OTHER=1"}

const conformStdin = "input"

// conformGuests are the transcript programs, built from source.
func conformGuests(t *testing.T) map[string][]byte {
	t.Helper()
	gs := map[string][]byte{"go": goGuest(t, "conform")}
	if _, err := exec.LookPath(guests.Clang); err == nil {
		gs["c"] = guests.BuildC(t, filepath.Join("..", "guests", "c", "conform", "conform.c"))
	} else {
		t.Logf("%s not installed: the C conformance program is skipped", guests.Clang)
	}
	return gs
}

// runOurs runs a transcript program on one of our backends as "truce run
// --dir HOST:/data" does: the host directory is copied into the in-memory
// file system, and the changes are written back after the run.
func runOurs(t *testing.T, k Kind, wasm []byte) transcript {
	t.Helper()
	host := t.TempDir()
	m, err := hostdir.New(host, "/data")
	if err != nil {
		t.Fatal(err)
	}
	fs := vfs.New(vfs.Limits{}, nil)
	if err := m.CopyIn(fs.Unchecked()); err != nil {
		t.Fatal(err)
	}
	var out output
	cfg := Config{WASI: wasi.Config{
		Args: append([]string{"conform"}, conformArgs...), Env: conformEnv,
		Stdin: strings.NewReader(conformStdin), Stdout: &out.stdout, Stderr: &out.stderr,
		FS: fs.View(hostdir.Caps([]*hostdir.Mount{m})),
	}}
	res, err := engineFor(t, k).Run(context.Background(), Program{Wasm: wasm}, cfg)
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	if res.Outcome != Exited {
		t.Fatalf("%s: %v: %s\nstdout:\n%s\nstderr:\n%s", k, res.Outcome, res.Message, out.stdout.String(), out.stderr.String())
	}
	if err := m.CopyOut(fs.Unchecked()); err != nil {
		t.Fatal(err)
	}
	return transcript{stdout: out.stdout.String(), stderr: out.stderr.String(), code: res.ExitCode, files: hostFiles(t, host)}
}

func hostFiles(t *testing.T, dir string) string {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		lines = append(lines, fileLine(strings.TrimPrefix(p, dir), b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func fileLine(p string, b []byte) string {
	if len(b) > 32 {
		b = b[:32]
	}
	return p + " " + strings.ReplaceAll(string(b), "\n", `\n`)
}

// TestConformance runs the transcript programs on every backend and
// compares the transcripts with each other and with other WASI
// implementations: wasmtime's own WASI over a host directory (when built
// with cgo) and Node.js's (when node is installed).
func TestConformance(t *testing.T) {
	for lang, wasm := range conformGuests(t) {
		t.Run(lang, func(t *testing.T) {
			var first transcript
			var firstKind Kind
			for i, k := range guestKinds(t) {
				got := runOurs(t, k, wasm)
				if !strings.Contains(got.stdout, "\ndone\n") {
					t.Fatalf("%s: transcript did not finish:\n%s", k, got.stdout)
				}
				if i == 0 {
					first, firstKind = got, k
					t.Logf("%s transcript on %s:\n%s", lang, k, got.stdout)
					continue
				}
				compare(t, string(firstKind), first, string(k), got)
			}
			for name, ref := range referenceRunners() {
				got, ok := ref(t, wasm)
				if !ok {
					continue
				}
				if skip := knownDiffs[name+"/"+lang]; skip != nil {
					first, got := first, got
					first.stdout, got.stdout = dropLines(first.stdout, skip), dropLines(got.stdout, skip)
					first.files, got.files = "", ""
					t.Logf("%s: lines %q not compared: known differences of that implementation", name, skip)
					compare(t, string(firstKind), first, name, got)
					continue
				}
				compare(t, string(firstKind), first, name, got)
			}
		})
	}
}

// knownDiffs are the transcript lines where a reference implementation
// is known to differ from wasmtime's WASI and from Truce's (which agree):
// Node.js's WASI (uvwasi) ignores the offset of a pwrite past the end and
// the append flag Go's port sets through fd_fdstat_set_flags, answers a
// read of a directory with ENOTCAPABLE instead of EBADF, drops the
// nanoseconds of times set with utimensat, does not report the append
// flag set with fcntl and refuses poll_oneoff on a file descriptor. The
// files left are then not compared either.
var knownDiffs = map[string][]string{
	"node/go": {"after hole:", "read log:", "read a dir:"},
	"node/c":  {"times:", "getfl append=", "poll file:", "poll revents"},
}

func dropLines(s string, prefixes []string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		keep := true
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				keep = false
			}
		}
		if keep {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// referenceRunners are other WASI implementations to compare with.
func referenceRunners() map[string]func(*testing.T, []byte) (transcript, bool) {
	refs := map[string]func(*testing.T, []byte) (transcript, bool){"node": runNode}
	if wasmtimeWASI != nil {
		refs["wasmtime-wasi"] = wasmtimeWASI
	}
	return refs
}

// wasmtimeWASI runs a program with wasmtime's own WASI; set in cgo builds.
var wasmtimeWASI func(*testing.T, []byte) (transcript, bool)

func runNode(t *testing.T, wasm []byte) (transcript, bool) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("node is not installed: no comparison with Node.js's WASI")
		return transcript{}, false
	}
	dir := t.TempDir()
	prog := filepath.Join(t.TempDir(), "prog.wasm")
	if err := os.WriteFile(prog, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "wasi-node.js"))
	cmd := exec.Command(node, append([]string{"--no-warnings", script, prog, "/data=" + dir}, conformArgs...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, conformEnv...)
	cmd.Stdin = strings.NewReader(conformStdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	return transcript{stdout: stdout.String(), stderr: stderr.String(), code: uint32(code), files: hostFiles(t, dir)}, true
}

func compare(t *testing.T, an string, a transcript, bn string, b transcript) {
	t.Helper()
	if a.code != b.code {
		t.Errorf("exit code: %s %d, %s %d", an, a.code, bn, b.code)
	}
	if a.stdout != b.stdout {
		t.Errorf("stdout differs between %s and %s:\n%s", an, bn, lineDiff(a.stdout, b.stdout))
	}
	if a.stderr != b.stderr {
		t.Errorf("stderr differs: %s %q, %s %q", an, a.stderr, bn, b.stderr)
	}
	if a.files != b.files {
		t.Errorf("files left differ:\n%s:\n%s\n%s:\n%s", an, a.files, bn, b.files)
	}
}

func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for i := 0; i < max(len(al), len(bl)); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out.WriteString("- " + x + "\n+ " + y + "\n")
		}
	}
	return out.String()
}
