package policyspec

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/truce-project/truce/internal/hint"
)

// TestLoad: a missing or invalid policy file comes with a hint.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(dir, "none.json"), bad} {
		_, err := Load(f)
		var he *hint.Error
		if !errors.As(err, &he) || he.Hint == "" {
			t.Fatalf("Load(%s) = %v, want a hint", f, err)
		}
	}
}
