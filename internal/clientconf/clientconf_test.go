package clientconf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/internal/hint"
)

// TestComplete takes the files from the environment and names the flag
// of a missing one.
func TestComplete(t *testing.T) {
	env := map[string]string{"TRUCE_POLICY": "p.json", "TRUCE_IDENTITY": "a.crt"}
	c := &Config{Getenv: func(k string) string { return env[k] }}
	err := c.Complete()
	var ue *hint.UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--key") {
		t.Fatalf("Complete without a key: %v, want a usage error naming --key", err)
	}
	env["TRUCE_KEY"] = "a.key"
	if err := c.Complete(); err != nil || c.Policy != "p.json" || c.Cert != "a.crt" || c.Key != "a.key" {
		t.Fatalf("Complete: %v, %+v", err, c)
	}
}

// TestOptionsWarnsWithoutRecord: a known-enclaves record that cannot be
// made is a warning, not a failure.
func TestOptionsWarnsWithoutRecord(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	c := &Config{Known: filepath.Join(file, "sub", "known"), Warn: &w, Addr: "127.0.0.1:1"}
	if opts := c.Options(); len(opts) != 1 {
		t.Fatalf("%d options, want only the address", len(opts))
	}
	if !strings.Contains(w.String(), "no known-enclaves record") {
		t.Fatalf("warning %q", w.String())
	}
	if opts := (&Config{Known: "off"}).Options(); len(opts) != 0 {
		t.Fatalf("Known off: %d options", len(opts))
	}
}

// TestAdvise: a refused enclave comes with a hint (a missing policy file:
// policyspec.TestLoad).
func TestAdvise(t *testing.T) {
	var he *hint.Error
	err := Advise(fmt.Errorf("dialing: %w", attest.ErrSimulated))
	if !errors.As(err, &he) || !strings.Contains(he.Hint, "simulated") || !errors.Is(err, attest.ErrSimulated) {
		t.Fatalf("Advise(ErrSimulated) = %#v", err)
	}
	if err := Advise(errors.New("x")); errors.As(err, &he) {
		t.Fatalf("Advise added a hint to an unknown error: %v", err)
	}
}
