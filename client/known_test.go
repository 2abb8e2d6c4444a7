package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestKnownEnclaves(t *testing.T) {
	var pA, pB, k1, k2, k3 [32]byte
	pA[0], pB[0], k1[0], k2[0], k3[0] = 1, 2, 11, 12, 13
	accept := func(*EnclaveChangedError) error { return nil }
	refuse := func(*EnclaveChangedError) error { return errors.New("refused by the integrator") }
	type step struct {
		policy, key [32]byte
		onChange    func(*EnclaveChangedError) error
		changed     bool   // the handler is called, or the change returned
		err         string // Check's error, "" for none
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first meeting is recorded, the same instance passes", []step{
			{pA, k1, nil, false, ""}, {pA, k1, nil, false, ""}, {pA, k1, nil, false, ""},
		}},
		{"a new instance is an error without a handler, and is not recorded", []step{
			{pA, k1, nil, false, ""}, {pA, k2, nil, true, "different enclave instance"}, {pA, k2, nil, true, "different enclave instance"}, {pA, k1, nil, false, ""},
		}},
		{"an accepted instance is expected next; the old one is a change again", []step{
			{pA, k1, nil, false, ""}, {pA, k2, accept, true, ""}, {pA, k2, nil, false, ""}, {pA, k1, nil, true, "different enclave instance"},
			{pA, k1, accept, true, ""}, {pA, k3, refuse, true, "refused by the integrator"}, {pA, k1, nil, false, ""},
		}},
		{"policies are apart", []step{
			{pA, k1, nil, false, ""}, {pB, k2, nil, false, ""}, {pA, k1, nil, false, ""}, {pB, k2, nil, false, ""}, {pB, k1, nil, true, "different"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			k := &KnownEnclaves{Path: filepath.Join(t.TempDir(), "sub", "known_enclaves"), Now: func() time.Time { return now }}
			for i, s := range tc.steps {
				now = now.Add(2 * time.Minute)
				called := false
				var on func(*EnclaveChangedError) error
				if s.onChange != nil {
					on = func(c *EnclaveChangedError) error {
						called = true
						if c.Current != s.key || c.Previous == s.key || c.Policy != s.policy {
							t.Errorf("step %d: change %+v", i, c)
						}
						return s.onChange(c)
					}
				}
				err := k.Check(s.policy, s.key, on)
				var ch *EnclaveChangedError
				gotChange := called || errors.As(err, &ch)
				if gotChange != s.changed {
					t.Fatalf("step %d: change noticed %v, want %v (err %v)", i, gotChange, s.changed, err)
				}
				if (err == nil) != (s.err == "") || err != nil && !strings.Contains(err.Error(), s.err) {
					t.Fatalf("step %d: %v, want %q", i, err, s.err)
				}
				if ch != nil && (!errors.Is(err, ErrEnclaveChanged) || Hint(err) == "") {
					t.Fatalf("step %d: %v does not match ErrEnclaveChanged with a hint", i, err)
				}
			}
		})
	}
}

func TestKnownEnclavesFile(t *testing.T) {
	dir := t.TempDir()
	var p, k1 [32]byte
	p[0], k1[0] = 1, 2
	for name, content := range map[string]string{
		"fields":   "abc\n",
		"hash":     "zz sha256:" + strings.Repeat("0", 64) + " 2026-01-01T00:00:00Z 2026-01-01T00:00:00Z\n",
		"prefix":   strings.Repeat("0", 64) + " " + strings.Repeat("0", 64) + " 2026-01-01T00:00:00Z 2026-01-01T00:00:00Z\n",
		"time":     strings.Repeat("0", 64) + " sha256:" + strings.Repeat("0", 64) + " yesterday 2026-01-01T00:00:00Z\n",
		"too long": strings.Repeat("#\n", maxKnownFile),
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		k := &KnownEnclaves{Path: path}
		if err := k.Check(p, k1, nil); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	for in, want := range map[[3]string]string{
		{"", "/x", "/h"}:    "/x/truce/known_enclaves",
		{"", "", "/h"}:      "/h/.config/truce/known_enclaves",
		{"/k", "/x", "/h"}:  "/k",
		{"off", "/x", "/h"}: "",
		{"", "", ""}:        "",
	} {
		env := map[string]string{KnownEnclavesEnv: in[0], "XDG_CONFIG_HOME": in[1], "HOME": in[2]}
		if got := DefaultKnownEnclavesPath(func(k string) string { return env[k] }); got != want {
			t.Errorf("DefaultKnownEnclavesPath(%v) = %q, want %q", in, got, want)
		}
	}
}
