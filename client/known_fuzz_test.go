package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzKnownEnclaves: whatever the record file holds, Check never panics;
// when it accepts the file, what it writes back reads again, and names the
// instance just met as the one expected.
func FuzzKnownEnclaves(f *testing.F) {
	line := strings.Repeat("ab", 32) + " sha256:" + strings.Repeat("cd", 32) + " 2026-01-01T00:00:00Z 2026-01-02T00:00:00Z\n"
	f.Add([]byte(line))
	f.Add([]byte("# comment\n\n" + line + line))
	f.Add([]byte("x y z w\n"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(dir, "known")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		var p, k [32]byte
		p[0], k[0] = 0xab, 0x42
		kn := &KnownEnclaves{Path: path}
		if err := kn.Check(p, k, func(*EnclaveChangedError) error { return nil }); err != nil {
			return
		}
		if err := kn.Check(p, k, nil); err != nil {
			t.Fatalf("the instance just recorded is not the one expected: %v", err)
		}
	})
}
