package issuance

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/pas"
)

// TestEmptyLog reads the log of a fresh service: no entry, no instance;
// a bad prefix is a usage error; a directory without service is refused.
func TestEmptyLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var w bytes.Buffer
	if n, _, err := WriteLog(ctx, &w, dir, "", false); err != nil || n != 0 || w.Len() != 0 {
		t.Fatalf("WriteLog of a fresh service: %d entries, %q, %v", n, w.String(), err)
	}
	if err := WriteInstances(ctx, &w, dir, "", ""); err != nil || !strings.Contains(w.String(), "0 enclave instances for 0 policies") {
		t.Fatalf("WriteInstances: %q, %v", w.String(), err)
	}
	w.Reset()
	if err := WriteInstances(ctx, &w, dir, "", "ABCDEF01"); err != nil || !strings.Contains(w.String(), "no enclave was certified for policy abcdef01") {
		t.Fatalf("WriteInstances with a prefix: %q, %v", w.String(), err)
	}
	var ue *hint.UsageError
	if err := WriteInstances(ctx, &w, dir, "", "abc"); !errors.As(err, &ue) {
		t.Fatalf("WriteInstances(abc) = %v, want a usage error", err)
	}
	if _, _, err := WriteLog(ctx, &w, t.TempDir(), "", true); !errors.Is(err, pas.ErrNotInitialised) {
		t.Fatalf("WriteLog of an empty directory: %v, want ErrNotInitialised", err)
	}
}
