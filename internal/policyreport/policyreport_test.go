package policyreport_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/policyreport"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/policy"
)

// TestValid describes a valid policy: who may do what, the program and
// who runs it, and prints it for a person.
func TestValid(t *testing.T) {
	w := trucetest.NewWorld(t, trucetest.WorldOptions{
		Principals: map[string]map[string]string{"alice": {"/input/": "w"}, "bob": {"/program/p.wasm": "x", "/output/": "r"}},
		Programs:   map[string][]byte{"/program/p.wasm": []byte("\x00asm")},
	})
	now := time.Now()
	rep, err := policyreport.New("p.json", w.Policy.Bytes(), now)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Valid || rep.Hash != w.Policy.HashHex() || len(rep.Principals) != 2 || len(rep.Programs) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if got := rep.Programs[0].RunBy; len(got) != 1 || got[0] != "bob" {
		t.Errorf("program run by %v, want bob", got)
	}
	var b bytes.Buffer
	rep.Print(&b, now)
	for _, want := range []string{"is valid", "policy hash: " + w.Policy.HashHex(), "may write /input/ and everything below it", "run by bob"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printed report lacks %q:\n%s", want, b.String())
		}
	}
}

// TestInvalid lists every problem with its path, and returns the
// validation error.
func TestInvalid(t *testing.T) {
	rep, err := policyreport.New("bad.json", []byte(`{"version": 2}`), time.Now())
	var ve *policy.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *policy.ValidationError", err)
	}
	if rep == nil || rep.Valid || len(rep.Problems) != len(ve.Problems) || len(rep.Problems) == 0 {
		t.Fatalf("report %+v for %d problems", rep, len(ve.Problems))
	}
}
