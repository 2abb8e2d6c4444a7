package localrun

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/hostdir"
	"github.com/truce-project/truce/internal/vfs"
)

// TestInvalidModule: bytes that are no WebAssembly module are refused,
// named by the program's path.
func TestInvalidModule(t *testing.T) {
	_, err := Run(t.Context(), Options{Wasm: []byte("not wasm"), Name: "dir/p.wasm",
		FileBytes: 1 << 20, TotalBytes: 1 << 20, MemoryBytes: 16 << 20, OutputBytes: 1 << 20})
	if !errors.Is(err, engine.ErrInvalidModule) || !strings.HasPrefix(err.Error(), "dir/p.wasm: ") {
		t.Fatalf("Run(not wasm) = %v, want ErrInvalidModule after the name", err)
	}
}

// TestQuota: a host directory larger than the file system's limit is
// refused before anything runs, and the host file is left as it was.
func TestQuota(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts, err := hostdir.Parse([]string{dir + ":/data"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(t.Context(), Options{Wasm: []byte("not wasm"), Name: "p.wasm", Mounts: mounts,
		FileBytes: 1 << 20, TotalBytes: 1 << 20, MemoryBytes: 16 << 20, OutputBytes: 1 << 20})
	if !errors.Is(err, vfs.ErrQuota) {
		t.Fatalf("Run with a 2 MiB file under a 1 MiB limit = %v, want ErrQuota", err)
	}
	if st, err := os.Stat(big); err != nil || st.Size() != 2<<20 {
		t.Fatalf("host file after a refused run: %v, %v", st, err)
	}
}
