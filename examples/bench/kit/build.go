package kit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Clang is the C compiler of the C programs: clang-14 with Debian's
// wasi-libc, the flags of package guests.
const Clang = "clang-14"

// ErrNoClang is returned by BuildC when clang-14 or wasi-libc is absent.
var ErrNoClang = errors.New(Clang + " or wasi-libc is not installed: apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 to build C programs")

var (
	buildMu sync.Mutex
	built   = map[string][]byte{}
)

// BuildGo compiles the Go package progDir (absolute, or relative to the
// working directory) for GOOS=wasip1 GOARCH=wasm, reproducibly (-trimpath,
// no VCS stamp), and returns the module. Builds are cached in the process
// and on disk, keyed by the Go version and the source of progDir and of its
// parent directory (the example's package, which the program imports), so
// that a change to either builds anew.
func BuildGo(progDir string) ([]byte, error) {
	abs, err := filepath.Abs(progDir)
	if err != nil {
		return nil, err
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := built[abs]; ok {
		return b, nil
	}
	h := sha256.New()
	h.Write([]byte(runtime.Version()))
	for _, d := range []string{abs, filepath.Dir(abs)} {
		if err := hashDir(h, d); err != nil {
			return nil, fmt.Errorf("reading the source of %s: %w", progDir, err)
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:32]
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	cached := filepath.Join(cacheDir, "truce-guests", "ex-"+key+".wasm")
	if b, err := os.ReadFile(cached); err == nil {
		built[abs] = b
		return b, nil
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(cached), "ex-*.wasm")
	if err != nil {
		return nil, err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command(GoTool(), "build", "-trimpath", "-buildvcs=false", "-o", tmp.Name(), ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s for wasip1: %w\n%s", progDir, err, out)
	}
	if err := os.Rename(tmp.Name(), cached); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(cached)
	if err != nil {
		return nil, err
	}
	built[abs] = b
	return b, nil
}

// hashDir hashes the names and contents of the non-test files of dir.
func hashDir(h interface{ Write([]byte) (int, error) }, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		h.Write([]byte(e.Name()))
		h.Write([]byte{0})
		h.Write(b)
		h.Write([]byte{0})
	}
	return nil
}

// BuildC compiles the C source file src for wasm32-wasi with clang-14 and
// wasi-libc (-O2) and returns the module. It returns ErrNoClang when the
// compiler or the library is absent.
func BuildC(src string) ([]byte, error) {
	cc, err := exec.LookPath(Clang)
	if err != nil {
		return nil, ErrNoClang
	}
	if _, err := os.Stat("/usr/include/wasm32-wasi/stdio.h"); err != nil {
		return nil, ErrNoClang
	}
	dir, err := os.MkdirTemp("", "truce-c-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "prog.wasm")
	cmd := exec.Command(cc, "--target=wasm32-unknown-wasi", "-O2", "-fuse-ld=lld",
		"-isystem", "/usr/include/wasm32-wasi", "-L/usr/lib/wasm32-wasi", "-o", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building C program %s: %w\n%s", src, err, b)
	}
	return os.ReadFile(out)
}

// GoTool is the go command of the toolchain running this program, or
// "go" from PATH if that one is not found.
func GoTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}
