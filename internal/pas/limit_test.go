package pas

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	type step struct {
		key  string
		at   time.Duration
		ok   bool
		wait time.Duration // when refused
	}
	tests := []struct {
		name        string
		rate        float64
		burst, keys int
		steps       []step
	}{
		{"burst then refill", 2, 3, 8, []step{
			{"a", 0, true, 0}, {"a", 0, true, 0}, {"a", 0, true, 0},
			{"a", 0, false, 500 * time.Millisecond},
			{"a", 250 * time.Millisecond, false, 250 * time.Millisecond},
			{"a", 500 * time.Millisecond, true, 0},
			{"a", 500 * time.Millisecond, false, 500 * time.Millisecond},
		}},
		{"keys are separate", 1, 1, 8, []step{
			{"a", 0, true, 0}, {"a", 0, false, time.Second}, {"b", 0, true, 0}, {"b", 0, false, time.Second},
		}},
		{"refill caps at burst", 100, 2, 8, []step{
			{"a", 0, true, 0}, {"a", 0, true, 0}, {"a", time.Hour, true, 0}, {"a", time.Hour, true, 0},
			{"a", time.Hour, false, 10 * time.Millisecond},
		}},
		{"full table refuses a new key", 1, 1, 2, []step{
			{"a", 0, true, 0}, {"b", 0, true, 0}, {"c", 0, false, time.Second},
			// a and b refill after a second and are forgotten: c fits.
			{"c", time.Second, true, 0},
		}},
		{"zero rate never refills", 0, 1, 2, []step{
			{"a", 0, true, 0}, {"a", time.Hour, false, time.Hour},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(tc.rate, tc.burst, tc.keys)
			for i, s := range tc.steps {
				ok, wait := l.allow(s.key, t0.Add(s.at))
				if ok != s.ok || (!ok && (wait-s.wait > time.Millisecond || s.wait-wait > time.Millisecond)) {
					t.Fatalf("step %d (%s at %v): allow = %v, %v; want %v, %v", i, s.key, s.at, ok, wait, s.ok, s.wait)
				}
			}
			if len(l.m) > tc.keys {
				t.Fatalf("tracks %d keys, bound %d", len(l.m), tc.keys)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":                     "127.0.0.1",
		"[::ffff:10.0.0.1]:1":                "10.0.0.1",
		"[2001:db8:1:2:3:4:5:6]:443":         "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:ffff:ffff:1]:80": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:80":               "2001:db8:1:3::/64",
		"not an address":                     "not an address",
	} {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHostSetLookup(t *testing.T) {
	dir := t.TempDir()
	if err := Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	a, err := AddHost(dir, "host-a", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := AddHost(dir, "host-b", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := LoadHosts(dir)
	if err != nil || len(hosts) != 2 {
		t.Fatalf("LoadHosts = %v, %v", hosts, err)
	}
	s := newHostSet(hosts)
	for cred, want := range map[string]string{a: "host-a", b: "host-b", a + "x": "", "": "", b[:len(b)-1]: ""} {
		got, ok := s.lookup(cred)
		if got != want || ok != (want != "") {
			t.Errorf("lookup(%q) = %q, %v; want %q", cred, got, ok, want)
		}
	}
}
