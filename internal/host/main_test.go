package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/hint"
)

func TestMainZeroConfigIsAUsageError(t *testing.T) {
	err := Main(context.Background(), MainConfig{})
	var u *hint.UsageError
	if !errors.As(err, &u) || u.Msg != "--policy or --policy-dir is required" {
		t.Fatalf("Main(zero) = %v, want the usage error --policy or --policy-dir is required", err)
	}
}

func TestMainEmptyPolicyDir(t *testing.T) {
	err := Main(context.Background(), MainConfig{PolicyDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "holds no *.json policy") {
		t.Fatalf("Main(empty dir) = %v, want that it holds no policy", err)
	}
}

func TestMainUnreadablePolicy(t *testing.T) {
	f := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(f, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Main(context.Background(), MainConfig{Policies: []string{f}})
	var h *hint.Error
	if !errors.As(err, &h) || !strings.Contains(err.Error(), "policy "+f) {
		t.Fatalf("Main(bad policy) = %v, want the policy's error with a hint", err)
	}
}
