package clientconf

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/hint"
)

func TestSaveReceipt(t *testing.T) {
	if err := SaveReceipt(nil, "", struct{}{}); err != nil {
		t.Fatalf("SaveReceipt with no file = %v, want nil", err)
	}
	f := filepath.Join(t.TempDir(), "r.json")
	var w bytes.Buffer
	if err := SaveReceipt(&w, f, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f)
	if err != nil || string(b) != "{\n  \"a\": 1\n}\n" {
		t.Fatalf("receipt file = %q, %v", b, err)
	}
	if !strings.HasPrefix(w.String(), "receipt saved to "+f) {
		t.Fatalf("report = %q", w.String())
	}
	var h *hint.Error
	if err := SaveReceipt(nil, filepath.Join(t.TempDir(), "no", "such", "r.json"), 1); !errors.As(err, &h) {
		t.Fatalf("SaveReceipt to an unwritable place = %v, want an error with a hint", err)
	}
}

func TestUploadMissingLocalFile(t *testing.T) {
	dir := t.TempDir()
	c := &Config{Policy: "p.json", Cert: "a.crt", Key: "a.key", Getenv: func(string) string { return "" }}
	err := Upload(context.Background(), c, Streams{}, filepath.Join(dir, "missing"), "/in/x", false)
	var h *hint.Error
	if !errors.As(err, &h) || !strings.Contains(err.Error(), "reading "+filepath.Join(dir, "missing")) {
		t.Fatalf("Upload(missing file) = %v, want the read error with a hint", err)
	}
}
