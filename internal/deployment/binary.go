package deployment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/truce-project/truce/attest/sim"
)

// Module is the path of the module whose ./cmd/truce Build builds.
const Module = "github.com/truce-project/truce"

// ErrNoModule says the module's source tree could not be found.
var ErrNoModule = errors.New("the truce module's source tree was not found")

// Binary is a truce executable and its measurement.
type Binary struct {
	// Path is the executable's file.
	Path string
	// Measurement is the SHA-256 of the file: what a policy pins for the
	// simulated platform.
	Measurement []byte
	// Name, if set, is the argv[0] of the processes started from it (the
	// demo runs itself as "truce"); empty means Path.
	Name string
}

// Open measures the existing truce executable at path (the demo passes
// its own, from os.Executable).
func Open(path string) (*Binary, error) {
	m, err := sim.MeasureFile(path)
	if err != nil {
		return nil, fmt.Errorf("measuring %s: %w", path, err)
	}
	return &Binary{Path: path, Measurement: m}, nil
}

var (
	buildMu sync.Mutex
	builds  = map[string]*Binary{}
)

// Build builds ./cmd/truce of the module at root (see ModuleRoot) with
// -trimpath and returns it. The build is cached on disk under the user's
// cache directory, keyed by the Go toolchain, the build environment and
// every source file the binary can depend on, so that every test binary
// and program of one source tree shares one build; within a process, each
// root is built (or found in the cache) once. Cached binaries unused for a
// day are removed by the next build.
func Build(ctx context.Context, root string) (*Binary, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("building truce: %w", err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := builds[root]; ok {
		return b, nil
	}
	path, err := build(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("building truce from %s: %w", root, err)
	}
	b, err := Open(path)
	if err != nil {
		return nil, err
	}
	builds[root] = b
	return b, nil
}

func build(ctx context.Context, root string) (string, error) {
	key, err := sourceKey(root)
	if err != nil {
		return "", fmt.Errorf("hashing the module's source: %w", err)
	}
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	cacheDir = filepath.Join(cacheDir, "truce-build")
	bin := filepath.Join(cacheDir, "truce-"+key)
	if _, err := os.Stat(bin); err == nil {
		now := time.Now()
		os.Chtimes(bin, now, now) // in use: not pruned for another day
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	pruneCache(cacheDir)
	// Build into a private directory beside the cache, then rename, so
	// that a concurrent process never runs a half-written file.
	part, err := os.MkdirTemp(cacheDir, "part-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(part)
	out := filepath.Join(part, "truce")
	cmd := exec.CommandContext(ctx, GoTool(), "build", "-trimpath", "-o", out, "./cmd/truce")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/truce: %w\n%s", err, msg)
	}
	if err := os.Rename(out, bin); err != nil {
		return "", err
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

// pruneCache removes cached binaries unused for a day, and builds
// abandoned as long ago.
func pruneCache(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// GoTool is the go command of the toolchain running this process, or
// "go" from PATH.
func GoTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// ModuleRoot returns the root of the truce module's source tree: the one
// this package was compiled from if it is still there, else the nearest
// directory above the working directory whose go.mod declares Module.
func ModuleRoot() (string, error) {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Join(filepath.Dir(file), "..", "..")
		if isModuleRoot(root) {
			return filepath.Clean(root), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoModule, err)
	}
	for {
		if isModuleRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w above %s", ErrNoModule, dir)
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && strings.HasPrefix(string(b), "module "+Module+"\n")
}
