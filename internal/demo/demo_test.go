package demo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/shamir"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/policy"
)

// TestPolicies: the policies Run and Load build are valid once encoded,
// and grant what the story and the load need.
func TestPolicies(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, pas.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]*identity.Identity{}
	var list []*identity.Identity
	for _, n := range []string{"alice", "bob", "carol", "oscar", "dave"} {
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
		list = append(list, id)
	}
	m := bytes.Repeat([]byte{0xab}, 32)
	now := time.Now()

	b, err := policy.Encode(storyPolicy(ids, "127.0.0.1:1", "https://127.0.0.1:2", caPEM, m, now))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(b, now)
	if err != nil {
		t.Fatalf("story policy refused: %v\n%s", err, b)
	}
	if p.Program(shamir.Path) == nil {
		t.Errorf("story policy lacks %s", shamir.Path)
	}
	if got := p.Principals[4].Capabilities["/output/"]; p.Principals[4].Name != "dave" || got != capability.Read {
		t.Errorf("dave's /output/ grant is %v, want r", got)
	}

	b, err = policy.Encode(loadPolicy("load-0", list, "127.0.0.1:1", "https://127.0.0.1:2", caPEM, m, now))
	if err != nil {
		t.Fatal(err)
	}
	p, err = policy.Parse(b, now)
	if err != nil {
		t.Fatalf("load policy refused: %v\n%s", err, b)
	}
	if got := p.Principals[3].Capabilities["/input/c3/"]; got != capability.Read|capability.Write {
		t.Errorf("client 3's grant is %v, want rw", got)
	}
}

// TestLoadBounds: Load refuses options out of its bounds before starting
// anything.
func TestLoadBounds(t *testing.T) {
	for _, o := range []LoadOptions{
		{Clients: MaxLoadClients + 1}, {Enclaves: -1}, {Size: MaxLoadSize + 1},
		{Requests: MaxLoadRequests + 1}, {Duration: MaxLoadDuration + time.Second},
	} {
		if _, err := Load(t.Context(), o); !errors.Is(err, ErrLoadBounds) {
			t.Errorf("Load(%+v) = %v, want ErrLoadBounds", o, err)
		}
	}
}

// TestKeepMustBeEmpty: Run never reuses a directory that holds something.
func TestKeepMustBeEmpty(t *testing.T) {
	keep := t.TempDir()
	if err := os.WriteFile(filepath.Join(keep, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := Run(t.Context(), Options{Exe: "/nonexistent", Keep: keep})
	var de *hint.Error
	if !errors.As(err, &de) || de.Hint == "" {
		t.Fatalf("Run with a non-empty --keep: %v, want a *hint.Error", err)
	}
}
