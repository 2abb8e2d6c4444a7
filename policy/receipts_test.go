package policy

import (
	"testing"

	"github.com/truce-project/truce/capability"
)

func TestMayReadReceipt(t *testing.T) {
	p := validPolicy(t)
	f := fixtures(t)
	p.Programs = append(p.Programs, Program{Path: "/program/b.wasm", SHA256: prog2Hash, Capabilities: capability.Set{"/output/b": capability.Write}})
	p.Programs = append(p.Programs, Program{Path: "/program/ro.wasm", SHA256: prog2Hash, Capabilities: capability.Set{"/input/": capability.Read}})
	p.Principals[0].Capabilities["/program/ro.wasm"] = capability.Execute
	p.Pipelines = []Pipeline{{Name: "both", Steps: []string{"/program/shamir.wasm", "/program/b.wasm"}}, {Name: "b", Steps: []string{"/program/b.wasm"}}}
	// carol reads /output/b only; alice holds x on b.wasm only.
	p.Principals = append(p.Principals, Principal{Name: "carol", Cert: f.carolPEM, Capabilities: capability.Set{"/output/b": capability.Read, "/input/carol": capability.Write}})
	p.Principals[0].Capabilities["/program/b.wasm"] = capability.Execute
	pol := mustParse(t, encode(t, p))
	for _, c := range []struct {
		who, program string
		want         bool
	}{
		{"bob", "/program/shamir.wasm", true},    // x on it, and r on /output/
		{"bob", "/program/b.wasm", true},         // r on every output
		{"bob", "pipeline:both", true},           // r on every output of every step
		{"alice", "/program/b.wasm", true},       // x on it
		{"alice", "/program/shamir.wasm", false}, // neither x nor r on /output/
		{"alice", "pipeline:both", false},        // x on one step only
		{"alice", "pipeline:b", true},            // x on every step
		{"carol", "/program/b.wasm", true},       // r on its only output
		{"carol", "/program/shamir.wasm", false}, // r on part of /output/ only
		{"carol", "pipeline:both", false},
		{"mallory", "/program/b.wasm", false},
		{"bob", "/program/none.wasm", false},
		{"bob", "pipeline:none", false},
		{"bob", "pipeline:", false},
		{"bob", "/program/ro.wasm", false},  // writes nothing: only its runners
		{"alice", "/program/ro.wasm", true}, // x on it
	} {
		if got := pol.MayReadReceipt(c.who, c.program); got != c.want {
			t.Errorf("MayReadReceipt(%q, %q) = %v, want %v", c.who, c.program, got, c.want)
		}
	}
	if (&Policy{}).MayReadReceipt("bob", "/program/b.wasm") {
		t.Error("an unparsed policy grants a receipt")
	}
}
