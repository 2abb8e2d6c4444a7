package client

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// policyN is a policy hash (or key fingerprint) made from n.
func policyN(tag byte, n int) [32]byte {
	var p [32]byte
	p[0], p[1], p[2] = tag, byte(n>>8), byte(n)
	return p
}

// TestAttackKnownEnclavesEvictPin: a host that makes a client meet many
// enclaves, of one policy or of many, must not push another policy's
// pinned instance out of the record, or it could then present a new
// enclave for that policy as a first meeting. Before the fix the record
// dropped its oldest line, the pin of policy A, and a new instance of A
// passed unnoticed ("a new instance of policy A passed as a first
// meeting"); now the last line of each policy is kept, older lines of
// policies with several go first, and when only last lines are left a new
// policy is refused (ErrKnownEnclavesFull) rather than a pin forgotten.
func TestAttackKnownEnclavesEvictPin(t *testing.T) {
	const max = 8
	accept := func(*EnclaveChangedError) error { return nil }
	tests := []struct {
		name string
		// flood is what the host makes the client meet after policy A.
		flood func(t *testing.T, k *KnownEnclaves)
	}{
		{"many policies", func(t *testing.T, k *KnownEnclaves) {
			for i := range 2 * max {
				err := k.Check(policyN(2, i), policyN(3, i), nil)
				if i < max-1 && err != nil {
					t.Fatalf("policy %d: %v", i, err)
				}
				if i >= max-1 && !errors.Is(err, ErrKnownEnclavesFull) {
					t.Errorf("policy %d with the record full of pins: %v, want ErrKnownEnclavesFull", i, err)
				}
			}
		}},
		{"many instances of one policy", func(t *testing.T, k *KnownEnclaves) {
			for i := range 2 * max {
				if err := k.Check(policyN(2, 0), policyN(3, i), accept); err != nil {
					t.Fatalf("instance %d: %v", i, err)
				}
			}
			// The flooded policy still expects its last instance.
			if err := k.Check(policyN(2, 0), policyN(3, 2*max-1), nil); err != nil {
				t.Fatalf("the flooded policy's last instance: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			k := &KnownEnclaves{Path: filepath.Join(t.TempDir(), "known_enclaves"), Now: func() time.Time { now = now.Add(2 * time.Minute); return now }, max: max}
			pA, k1, k2 := policyN(1, 0), policyN(1, 1), policyN(1, 2)
			if err := k.Check(pA, k1, nil); err != nil {
				t.Fatal(err)
			}
			tc.flood(t, k)
			if err := k.Check(pA, k2, nil); !errors.Is(err, ErrEnclaveChanged) {
				t.Errorf("a new instance of policy A passed as a first meeting (%v): its pin was dropped", err)
			}
			lines, err := k.read()
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) > max {
				t.Fatalf("the record has %d lines, over its bound %d", len(lines), max)
			}
		})
	}
}

// TestKnownEnclavesFullError: the refusal to record a new policy names
// the file and says what to do.
func TestKnownEnclavesFullError(t *testing.T) {
	k := &KnownEnclaves{Path: filepath.Join(t.TempDir(), "known_enclaves"), max: 1}
	if err := k.Check(policyN(1, 0), policyN(1, 1), nil); err != nil {
		t.Fatal(err)
	}
	err := k.Check(policyN(2, 0), policyN(2, 1), nil)
	if !errors.Is(err, ErrKnownEnclavesFull) || !strings.Contains(err.Error(), k.Path) || Hint(err) == "" {
		t.Fatalf("%v (hint %q): want ErrKnownEnclavesFull naming the file, with a hint", err, Hint(err))
	}
}

// TestAttackKnownEnclavesLostUpdate: two processes updating the record at
// once (here two KnownEnclaves on one file, as two processes have) must
// not lose each other's lines. Before the fix each read, changed and
// rewrote the file unlocked, and the last writer won ("the record holds
// 61 of the 100 policies met"); now the read-modify-write is under a lock
// on a file next to the record.
func TestAttackKnownEnclavesLostUpdate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "known_enclaves")
	const each = 50
	var wg sync.WaitGroup
	for w := range 2 {
		k := &KnownEnclaves{Path: path}
		wg.Go(func() {
			for i := range each {
				if err := k.Check(policyN(byte(w+1), i), policyN(9, i), nil); err != nil {
					t.Errorf("writer %d, policy %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	lines, err := (&KnownEnclaves{Path: path}).read()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2*each {
		t.Fatalf("the record holds %d of the %d policies met", len(lines), 2*each)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "known_enclaves" && e.Name() != "known_enclaves.lock" {
			t.Errorf("%s left next to the record", e.Name())
		}
	}
}

// TestKnownEnclavesLockedProcesses runs the lost-update race between two
// real processes: this test binary, run again as two children, each
// recording 50 policies of its own in one file.
func TestKnownEnclavesLockedProcesses(t *testing.T) {
	const each = 50
	if path := os.Getenv("TRUCE_TEST_KNOWN_CHILD"); path != "" {
		tag := os.Getenv("TRUCE_TEST_KNOWN_TAG")[0]
		k := &KnownEnclaves{Path: path}
		for i := range each {
			if err := k.Check(policyN(tag, i), policyN(9, i), nil); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	path := filepath.Join(t.TempDir(), "known_enclaves")
	var cmds []*exec.Cmd
	for _, tag := range []string{"a", "b"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKnownEnclavesLockedProcesses$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TRUCE_TEST_KNOWN_CHILD="+path, "TRUCE_TEST_KNOWN_TAG="+tag)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child: %v", err)
		}
	}
	lines, err := (&KnownEnclaves{Path: path}).read()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2*each {
		t.Fatalf("the record holds %d of the %d policies two processes met", len(lines), 2*each)
	}
}
