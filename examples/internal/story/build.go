package story

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/truce-project/truce/internal/trucetest"
)

// BuildGo compiles the Go package in dir (relative to the test's directory,
// or absolute) for GOOS=wasip1 GOARCH=wasm, reproducibly (-trimpath, no VCS
// stamp), and returns the module's bytes. Builds are cached per process and
// on disk (see trucetest.BuildGo).
func BuildGo(t testing.TB, dir string) []byte {
	t.Helper()
	return trucetest.BuildGo(t, dir)
}

// Clang is the C compiler BuildC uses; WASIIncludeDir and WASILibDir hold
// the headers and libraries of wasi-libc it compiles against (Debian's
// clang-14, lld-14, wasi-libc and libclang-rt-14-dev-wasm32 packages).
const (
	Clang          = "clang-14"
	WASIIncludeDir = "/usr/include/wasm32-wasi"
	WASILibDir     = "/usr/lib/wasm32-wasi"
)

var (
	cMu    sync.Mutex
	cBuilt = map[string][]byte{}
)

// BuildC compiles the C source files srcs (paths relative to the test's
// directory, or absolute) into one WebAssembly module for WASI preview 1
// with clang-14 and wasi-libc, at -O2, and returns its bytes. Extra
// compiler flags may follow the sources when they start with "-". It
// skips t, saying what to install, when clang-14 or wasi-libc is absent.
// Builds are cached per process.
func BuildC(t testing.TB, srcs ...string) []byte {
	t.Helper()
	if len(srcs) == 0 {
		t.Fatal("story.BuildC: no source file given")
	}
	clang, err := exec.LookPath(Clang)
	if err != nil {
		t.Skipf("C example skipped: %s is not installed (apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)", Clang)
	}
	if _, err := os.Stat(WASIIncludeDir); err != nil {
		t.Skipf("C example skipped: wasi-libc headers are not in %s (apt-get install -y wasi-libc)", WASIIncludeDir)
	}
	args := []string{"--target=wasm32-unknown-wasi", "-O2", "-fuse-ld=lld", "-isystem", WASIIncludeDir, "-L" + WASILibDir}
	h := sha256.New()
	for _, s := range srcs {
		if len(s) > 0 && s[0] == '-' {
			args = append(args, s)
			h.Write([]byte(s))
			h.Write([]byte{0})
			continue
		}
		abs, err := filepath.Abs(s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(abs)
		if err != nil {
			t.Fatalf("story.BuildC: %v", err)
		}
		h.Write([]byte(abs))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
		args = append(args, abs)
	}
	key := hex.EncodeToString(h.Sum(nil))
	cMu.Lock()
	defer cMu.Unlock()
	if b, ok := cBuilt[key]; ok {
		return b
	}
	out := filepath.Join(t.TempDir(), "prog.wasm")
	cmd := exec.Command(clang, append(args, "-o", out)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling %v with %s: %v\n%s", srcs, Clang, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cBuilt[key] = b
	return b
}
