package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestDiskCache: with a cache directory, a new engine (another process)
// finds the compiled code; a damaged file is ignored and replaced.
func TestDiskCache(t *testing.T) {
	hello := testdata(t, "hello.wasm")
	run := func(k Kind, dir string) *Result {
		t.Helper()
		e, err := New(Options{Kind: k, CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		res, err := e.Run(context.Background(), Program{Wasm: hello}, Config{})
		if err != nil || !res.OK() {
			t.Fatalf("%s: %+v, %v", k, res, err)
		}
		return res
	}
	for _, k := range Kinds() {
		t.Run(string(k), func(t *testing.T) {
			dir := t.TempDir()
			if res := run(k, dir); res.CacheHit {
				t.Error("first run in an empty directory hit the cache")
			}
			sub := filepath.Join(dir, "wazero")
			if k == Wasmtime {
				sub = filepath.Join(dir, "wasmtime")
			}
			files, _ := os.ReadDir(sub)
			if len(files) == 0 {
				t.Fatalf("nothing written to %s", sub)
			}
			res := run(k, dir)
			if k != Wasmtime {
				return // wazero does not say whether its file cache hit
			}
			if !res.CacheHit {
				t.Error("a new engine compiled again")
			}
			f := filepath.Join(sub, files[0].Name())
			if err := os.WriteFile(f, []byte("not a module"), 0o600); err != nil {
				t.Fatal(err)
			}
			if res := run(k, dir); res.CacheHit {
				t.Error("a damaged file was used")
			}
			if res := run(k, dir); !res.CacheHit {
				t.Error("the damaged file was not replaced")
			}
		})
	}
}
