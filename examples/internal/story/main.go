// Package story runs an example's computation through the real Truce system,
// as its parties would: it builds the truce binary once per test binary
// (cached on disk, keyed by the module's source, so all examples share it),
// starts one attestation service ("truce pas serve --allow-sim") per test
// binary and one host ("truce host serve", which starts "truce runtime")
// per example, writes identities and a policy from a small declarative Spec,
// and hands the test a verified client session per principal.
//
// Use it from an example's test:
//
//	func TestMain(m *testing.M) { story.Main(m) }
//
//	func TestExample(t *testing.T) {
//		wasm := story.BuildGo(t, "program")
//		s := story.Start(t, story.Spec{
//			Name: "linear-regression",
//			Parties: []story.Party{
//				{Name: "owner", Caps: map[string]string{"/input/data.dat": "w", "/program/lr.wasm": "w"}},
//				{Name: "reader", Caps: map[string]string{"/program/lr.wasm": "x", "/output/": "r"}},
//			},
//			Programs: []story.Program{{Path: "/program/lr.wasm", Wasm: wasm,
//				Caps: map[string]string{"/input/": "r", "/output/": "w"}}},
//		})
//		s.UploadPrograms(t)
//		s.Put(t, "owner", "/input/data.dat", data)
//		s.Run(t, "reader", "/program/lr.wasm")
//		got := s.Get(t, "reader", "/output/result.dat")
//		…
//	}
//
// Every run's receipt is checked against the policy. The host is shut down
// through the API at the end of the test (by a principal who may), and the
// attestation service when the test binary ends.
//
// This package is for tests only. It must never reach into a process's
// memory or files to make a test pass: everything goes through the client
// SDK, as a party would; nor may it leave a child process running after the
// test binary ends.
package story

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/internal/pas"
)

// world is what one test binary shares between its examples: the truce
// binary, its measurement and the attestation service.
type world struct {
	dir         string // temporary; removed by Main
	bin         string
	measurement []byte

	pasOnce sync.Once
	pas     *pasServer
	pasErr  error
}

var (
	mainMu  sync.Mutex
	current *world
)

// Main runs the tests of an example package, from its TestMain: it builds
// the truce binary (once; cached on disk across test binaries), runs the tests, then stops the attestation
// service if one was started and removes the temporary files. It exits the
// process with the tests' code.
func Main(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "truce-story-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "story:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	w := &world{dir: dir}
	if w.bin, err = buildTruce(dir); err != nil {
		fmt.Fprintln(os.Stderr, "story: building truce:", err)
		return 1
	}
	if w.measurement, err = sim.MeasureFile(w.bin); err != nil {
		fmt.Fprintln(os.Stderr, "story: measuring truce:", err)
		return 1
	}
	mainMu.Lock()
	current = w
	mainMu.Unlock()
	code := m.Run()
	if w.pas != nil {
		w.pas.p.stop()
	}
	return code
}

// buildTruce builds ./cmd/truce of this module and returns the binary's
// path. Builds are cached on disk, keyed by the Go toolchain, the build
// environment and every source file the binary can depend on, so that the
// test binaries of all examples share one build.
func buildTruce(tmp string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the module's source")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	key, err := sourceKey(root)
	if err != nil {
		return "", fmt.Errorf("hashing the module's source: %w", err)
	}
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	cacheDir = filepath.Join(cacheDir, "truce-story")
	bin := filepath.Join(cacheDir, "truce-"+key)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	pruneCache(cacheDir)
	out := filepath.Join(tmp, "truce")
	cmd := exec.Command(goTool(), "build", "-trimpath", "-o", out, "./cmd/truce")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/truce: %w\n%s", err, msg)
	}
	// Copy then rename, so that a concurrent test binary never runs a
	// half-written file.
	part, err := os.CreateTemp(cacheDir, "part-")
	if err != nil {
		return "", err
	}
	defer os.Remove(part.Name())
	b, err := os.ReadFile(out)
	if err == nil {
		_, err = part.Write(b)
	}
	if cerr := part.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(part.Name(), 0o755)
	}
	if err == nil {
		err = os.Rename(part.Name(), bin)
	}
	if err != nil {
		return out, nil // the private build still serves this test binary
	}
	return bin, nil
}

// sourceKey hashes the toolchain, the build environment and every file
// under root that a build of the truce binary may read: Go, assembly and C
// sources (not tests), embedded files and go.mod/go.sum.
func sourceKey(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s/%s\x00", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, v := range []string{"CGO_ENABLED", "GOFLAGS", "CC", "CGO_CFLAGS", "CGO_LDFLAGS", "GOAMD64", "GOEXPERIMENT"} {
		fmt.Fprintf(h, "%s=%s\x00", v, os.Getenv(v))
	}
	exts := map[string]bool{".go": true, ".s": true, ".c": true, ".h": true, ".wasm": true, ".goversion": true, ".pem": true, ".mod": true, ".sum": true}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "docs") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(name, "_test.go") || !exts[filepath.Ext(name)] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// pruneCache removes cached binaries unused for a day.
func pruneCache(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// theWorld returns the test binary's shared state, failing t if the
// package's TestMain does not call Main.
func theWorld(t testing.TB) *world {
	t.Helper()
	mainMu.Lock()
	defer mainMu.Unlock()
	if current == nil {
		t.Fatal("story: the package's TestMain must call story.Main(m)")
	}
	return current
}

// Binary returns the path of the truce binary built for this test binary,
// for tests that also drive the CLI. The package's TestMain must call Main.
func Binary(t testing.TB) string {
	t.Helper()
	return theWorld(t).bin
}

// pasServer is a running "truce pas serve".
type pasServer struct {
	dir, url  string
	caPEM     []byte
	deviceKey string
	p         *proc
}

// attestationService starts the test binary's attestation service on first
// use and returns it.
func (w *world) attestationService() (*pasServer, error) {
	w.pasOnce.Do(func() { w.pas, w.pasErr = w.startPAS() })
	return w.pas, w.pasErr
}

func (w *world) startPAS() (*pasServer, error) {
	dir := filepath.Join(w.dir, "pas")
	if err := pas.Init(dir, nil); err != nil {
		return nil, fmt.Errorf("initialising the attestation service: %w", err)
	}
	addrFile := filepath.Join(w.dir, "pas.addr")
	p, err := startProc(w.bin, nil, "pas", "serve", "--dir", dir, "--listen", "127.0.0.1:0", "--allow-sim", "--addr-file", addrFile)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			ca, err := os.ReadFile(filepath.Join(dir, pas.CACertFile))
			if err != nil {
				p.stop()
				return nil, err
			}
			return &pasServer{dir: dir, url: "https://" + strings.TrimSpace(string(b)), caPEM: ca,
				deviceKey: filepath.Join(dir, pas.DeviceKeyFile), p: p}, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("truce pas serve exited:\n%s", p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("truce pas serve did not start within 30s:\n%s", p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// proc is a running truce child process.
type proc struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts "truce ARGS…"; onLine sees each stdout line. The child
// is sent SIGTERM by the kernel if the test binary dies first.
func startProc(bin string, onLine func(string), args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	setDeathSignal(cmd)
	p := &proc{cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting truce %s: %w", strings.Join(args, " "), err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(p.log, sc.Text())
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// stop interrupts the process and waits for it, killing it after 10 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has ended, waiting up to d.
func (p *proc) exited(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}
