package policyspec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/policy"
)

// TestBuild makes a valid policy from specs: a party, a program, a
// pipeline, a budget, a quorum and an explicit runtime.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, attesttest.NewCA(t).PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := identity.New("alice", 0, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := id.Write(dir); err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(dir, "p.wasm")
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p, err := Build(Spec{
		Name: "t", Host: "127.0.0.1:3017", Service: "https://127.0.0.1:3010", CAFile: ca, ValidFor: time.Hour,
		Runtimes:   []string{"sim=" + strings.Repeat("ab", 32)},
		Principals: []string{"alice=" + filepath.Join(dir, "alice.crt") + ":/input/:w,/program/p.wasm:x,/output/:r"},
		Programs:   []string{"/program/p.wasm=" + wasm + ":/input/:r,/output/:w"},
		Pipelines:  []string{"one=/program/p.wasm"},
		Budgets:    []string{"alice=/input/:once"},
		Quorum:     "1:alice",
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := policy.Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := policy.Parse(b, now)
	if err != nil {
		t.Fatalf("built policy refused: %v\n%s", err, b)
	}
	if q.Principals[0].Capabilities["/program/p.wasm"] != capability.Execute || !q.Principals[0].Budgets["/input/"].Once || q.Quorum().Threshold != 1 {
		t.Errorf("policy %s", b)
	}
}

// TestSpecMistakes are usage errors that name the flag.
func TestSpecMistakes(t *testing.T) {
	for _, tt := range []struct {
		spec Spec
		want string
	}{
		{Spec{ValidFor: time.Hour}, "--pas-ca"},
		{Spec{}, "--valid-for"},
		{Spec{Carry: []string{"/x"}}, "--carry is for a successor"},
		{Spec{Expires: "soon", Given: map[string]bool{"expires": true}}, "--expires"},
		{Spec{Given: map[string]bool{"expires": true, "valid-for": true}}, "not both"},
	} {
		_, err := Build(tt.spec, time.Now())
		var ue *hint.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Build(%+v) = %v, want a usage error about %s", tt.spec, err, tt.want)
		}
	}
	if _, err := Caps("--principal a", "/input/"); err == nil || !strings.Contains(err.Error(), "lacks rights") {
		t.Errorf("Caps without rights: %v", err)
	}
	if _, err := Runtime("mars"); err == nil || !strings.Contains(err.Error(), "unknown platform") {
		t.Errorf("Runtime(mars): %v", err)
	}
	var a policy.Attestation
	if err := MinimumTCB("snp:microcode=x", &a); err == nil {
		t.Error("MinimumTCB accepted a non-number")
	}
}
