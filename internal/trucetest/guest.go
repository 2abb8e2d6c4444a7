// Package trucetest holds importable helpers and fakes for testing Truce
// without hardware: building guest programs, and (as they are added) fake
// devices, clocks and attestation services.
//
// It must never be imported by code that ships in the truce binary.
package trucetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	buildMu sync.Mutex
	built   = map[string][]byte{}
)

// BuildGo compiles the Go package in dir (a path relative to the calling
// test's directory, or absolute) for GOOS=wasip1 GOARCH=wasm and returns the
// module's bytes. Results are cached per process and on disk under the
// user's cache directory, keyed by the package's source, so a suite builds
// each guest once. The build is reproducible: -trimpath, no VCS stamping.
func BuildGo(t testing.TB, dir string) []byte {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := built[abs]; ok {
		return b
	}
	key, err := sourceKey(abs)
	if err != nil {
		t.Fatalf("reading guest source %s: %v", abs, err)
	}
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	cached := filepath.Join(cacheDir, "truce-guests", key+".wasm")
	if b, err := os.ReadFile(cached); err == nil {
		built[abs] = b
		return b
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := cached + ".tmp" + hex.EncodeToString([]byte(t.Name()))[:8]
	cmd := exec.Command(goTool(), "build", "-trimpath", "-buildvcs=false", "-o", tmp, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building guest %s for wasip1: %v\n%s", dir, err, out)
	}
	if err := os.Rename(tmp, cached); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cached)
	if err != nil {
		t.Fatal(err)
	}
	built[abs] = b
	return b
}

// sourceKey hashes the Go toolchain version and every file of the package
// directory, so that a change to the guest's source builds it anew.
func sourceKey(dir string) (string, error) {
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", err
		}
		h.Write([]byte(e.Name()))
		h.Write([]byte{0})
		h.Write(bytes.TrimSpace(b))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}
