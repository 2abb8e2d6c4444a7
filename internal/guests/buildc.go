package guests

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Clang is the compiler BuildC uses: clang-14 from Debian, with wasi-libc.
const Clang = "clang-14"

var (
	cMu    sync.Mutex
	cBuilt = map[string][]byte{}
)

// BuildC compiles the C source file src (a path relative to the calling
// test's directory, or absolute) for wasm32-wasi and returns the module's
// bytes. It skips the test, saying what to install, when clang-14 or
// wasi-libc is absent. Results are cached per process and by source hash
// on disk.
func BuildC(t testing.TB, src string) []byte {
	t.Helper()
	cc, err := exec.LookPath(Clang)
	if err != nil {
		t.Skipf("%s is not installed: apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 to build C guests", Clang)
	}
	if _, err := os.Stat("/usr/include/wasm32-wasi/stdio.h"); err != nil {
		t.Skip("wasi-libc is not installed: apt-get install -y wasi-libc libclang-rt-14-dev-wasm32 to build C guests")
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		t.Fatal(err)
	}
	cMu.Lock()
	defer cMu.Unlock()
	if b, ok := cBuilt[abs]; ok {
		return b
	}
	code, err := os.ReadFile(abs)
	if err != nil {
		t.Fatalf("reading C guest: %v", err)
	}
	sum := sha256.Sum256(append([]byte(Clang+"\x00"), code...))
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	out := filepath.Join(cacheDir, "truce-guests", "c-"+hex.EncodeToString(sum[:16])+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		cBuilt[abs] = b
		return b
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "c-*.wasm")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	cmd := exec.Command(cc, "--target=wasm32-unknown-wasi", "-O2", "-fuse-ld=lld",
		"-isystem", "/usr/include/wasm32-wasi", "-L/usr/lib/wasm32-wasi",
		"-o", tmp.Name(), abs)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		t.Fatalf("building C guest %s: %v\n%s", src, err, b)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cBuilt[abs] = b
	return b
}
