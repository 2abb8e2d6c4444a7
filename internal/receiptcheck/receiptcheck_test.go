package receiptcheck

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/hint"
)

func TestOpeningsSet(t *testing.T) {
	var o Openings
	if err := o.Set("/out/r=c2FsdA:r.txt"); err != nil {
		t.Fatal(err)
	}
	if len(o) != 1 || o[0] != (Opening{"/out/r", "c2FsdA", "r.txt"}) {
		t.Fatalf("Openings = %+v", o)
	}
	for _, bad := range []string{"", "/out/r", "/out/r=salt", "=s:f", "/p=:f", "/p=s:"} {
		if err := o.Set(bad); err == nil {
			t.Errorf("Set(%q) = nil, want an error", bad)
		}
	}
}

func TestVerifyMissingPolicyFirst(t *testing.T) {
	read := false
	err := Verify(io.Discard, Check{Name: "r.json", PolicyFile: filepath.Join(t.TempDir(), "none.json"),
		Read: func() ([]byte, error) { read = true; return nil, nil }})
	var h *hint.Error
	if !errors.As(err, &h) || !strings.Contains(err.Error(), "reading the policy") {
		t.Fatalf("Verify(no policy) = %v, want the policy's read error with a hint", err)
	}
	if read {
		t.Fatal("the receipt was read before the policy")
	}
}
