package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
)

func TestHashAndBytes(t *testing.T) {
	data := encode(t, validPolicy(t))
	p := mustParse(t, data)
	if !bytes.Equal(p.Bytes(), data) {
		t.Fatal("Bytes differ from the input")
	}
	want := sha256.Sum256(data)
	if p.Hash() != want || Hash(data) != want || p.HashHex() != hex.EncodeToString(want[:]) {
		t.Fatal("hash is not the SHA-256 of the exact bytes")
	}
	// One more space is another policy.
	spaced := append(bytes.Clone(data), ' ')
	if q := mustParse(t, spaced); q.Hash() == p.Hash() {
		t.Fatal("different bytes, same hash")
	}
	// Bytes is a copy: changing the input afterwards changes nothing.
	data[0] = 'X'
	if p.Bytes()[0] != '{' || p.Hash() != want {
		t.Fatal("policy aliases the caller's buffer")
	}
}

func TestZeroNowMeansCurrentTime(t *testing.T) {
	p := validPolicy(t)
	p.Expires = time.Now().Add(-time.Minute)
	if _, err := Parse(encode(t, p), time.Time{}); err == nil {
		t.Fatal("policy expired a minute ago accepted with zero now")
	}
}

func TestEncodeStable(t *testing.T) {
	p := validPolicy(t)
	a, b := encode(t, p), encode(t, p)
	if !bytes.Equal(a, b) || a[len(a)-1] != '\n' {
		t.Fatal("Encode is not stable or lacks a trailing newline")
	}
	q := mustParse(t, a)
	c := encode(t, q)
	if !bytes.Equal(a, c) {
		t.Fatalf("parse then encode changed the bytes:\n%s\n---\n%s", a, c)
	}
}

// TestEncodeNilLists: a policy built by hand with nil lists and sets,
// where a policy file holds empty ones, encodes to bytes Parse accepts,
// and Encode leaves the value as it was.
func TestEncodeNilLists(t *testing.T) {
	p := validPolicy(t)
	p.Programs = nil
	p.Principals[1].Capabilities = nil
	b := encode(t, p)
	if !bytes.Contains(b, []byte(`"programs": []`)) || bytes.Contains(b, []byte("null")) {
		t.Fatalf("nil lists not written as empty ones:\n%s", b)
	}
	q := mustParse(t, b)
	if len(q.Programs) != 0 || q.Principals[1].Capabilities == nil {
		t.Errorf("parsed %d programs, capabilities %v; want none and an empty set", len(q.Programs), q.Principals[1].Capabilities)
	}
	if p.Programs != nil || p.Principals[1].Capabilities != nil {
		t.Error("Encode changed the policy it encoded")
	}
	p.Principals, p.Attestation.Runtimes = nil, nil
	if b := encode(t, p); bytes.Contains(b, []byte("null")) {
		t.Fatalf("nil principals or runtimes written as null:\n%s", b)
	}
}

func TestQueries(t *testing.T) {
	p := validPolicy(t)
	p.Programs = append(p.Programs, Program{Path: "/program/b.wasm", SHA256: prog2Hash, Capabilities: capability.Set{"/output/b": capability.Write}})
	p.Principals[1].Capabilities["/program/b.wasm"] = capability.Execute
	p.Pipelines = []Pipeline{{Name: "both", Steps: []string{"/program/shamir.wasm", "/program/b.wasm"}}}
	p.Attestation.Runtimes = append(p.Attestation.Runtimes, Runtime{Platform: "nitro", Measurement: hexOf(48, 1), Extra: map[string]string{"pcr8": hexOf(48, 8)}})
	pol := mustParse(t, encode(t, p))

	R, W, A, X := capability.Read, capability.Write, capability.Append, capability.Execute
	principal := []struct {
		who, path string
		r         capability.Rights
		want      bool
	}{
		{"alice", "/input/alice/share", W, true},
		{"alice", "/input/alice/deep/share", W, true},
		{"alice", "/input/alice", W, true},
		{"alice", "/input/alice/share", R, false},
		{"alice", "/input/alice/share", A, false},
		{"alice", "/input/alice/share", R | W, false},
		{"alice", "/input/bob/share", W, false},
		{"alice", "/input/alice/../bob/x", W, false},
		{"alice", "/input/alice/", W, false},
		{"alice", "input/alice/x", W, false},
		{"alice", "/input/alice/x", 0, false},
		{"bob", "/program/shamir.wasm", X, true},
		{"bob", "/program/shamir.wasm", W, false},
		{"bob", "/output/result", R, true},
		{"bob", "/output/result", W, false},
		{"mallory", "/output/result", R, false},
		{"", "/output/result", R, false},
	}
	for _, c := range principal {
		if got := pol.PrincipalAllows(c.who, c.path, c.r); got != c.want {
			t.Errorf("PrincipalAllows(%q, %q, %v) = %v", c.who, c.path, c.r, got)
		}
	}
	program := []struct {
		prog, path string
		r          capability.Rights
		want       bool
	}{
		{"/program/shamir.wasm", "/input/alice/share", R, true},
		{"/program/shamir.wasm", "/input/alice/share", W, false},
		{"/program/shamir.wasm", "/output/x", W, true},
		{"/program/shamir.wasm", "/output/x", R | W, false},
		{"/program/shamir.wasm", "/output/x", A, false},
		{"/program/b.wasm", "/output/b", W, true},
		{"/program/b.wasm", "/output/c", W, false},
		{"/program/none.wasm", "/output/x", W, false},
	}
	for _, c := range program {
		if got := pol.ProgramAllows(c.prog, c.path, c.r); got != c.want {
			t.Errorf("ProgramAllows(%q, %q, %v) = %v", c.prog, c.path, c.r, got)
		}
	}

	if pr := pol.PrincipalByCert(fixtures(t).aliceDER); pr == nil || pr.Name != "alice" || pr.Certificate() == nil || pr.Certificate().Subject.CommonName != "alice" {
		t.Error("PrincipalByCert(alice) wrong")
	}
	if pol.PrincipalByCert(append(bytes.Clone(fixtures(t).aliceDER), 0)) != nil || pol.PrincipalByCert(nil) != nil {
		t.Error("PrincipalByCert matched inexact DER")
	}
	if pol.Principal("bob") == nil || pol.Principal("zed") != nil {
		t.Error("Principal lookup wrong")
	}
	pg := pol.Program("/program/b.wasm")
	if pg == nil {
		t.Fatal("Program(/program/b.wasm) is nil")
	}
	if h := pg.Hash(); hex.EncodeToString(h[:]) != prog2Hash || pol.Program("/program/") != nil {
		t.Error("Program lookup or hash wrong")
	}
	if pl := pol.Pipeline("both"); pl == nil || len(pl.Steps) != 2 || pol.Pipeline("none") != nil {
		t.Error("Pipeline lookup wrong")
	}
	if c := pol.CACertificate(); c == nil || !c.IsCA {
		t.Error("CACertificate missing")
	}

	sim, _ := hex.DecodeString(simMeasurement)
	nitro, _ := hex.DecodeString(hexOf(48, 1))
	pcr8, _ := hex.DecodeString(hexOf(48, 8))
	trust := []struct {
		name     string
		platform string
		m        []byte
		extra    map[string][]byte
		want     bool
	}{
		{"sim", "sim", sim, nil, true},
		{"sim on other platform", "snp", sim, nil, false},
		{"sim one bit off", "sim", flip(sim), nil, false},
		{"sim truncated", "sim", sim[:31], nil, false},
		{"empty", "sim", nil, nil, false},
		{"nitro without pcr8", "nitro", nitro, nil, false},
		{"nitro with pcr8", "nitro", nitro, map[string][]byte{"pcr8": pcr8}, true},
		{"nitro wrong pcr8", "nitro", nitro, map[string][]byte{"pcr8": flip(pcr8)}, false},
		{"nitro pcr8 and unpinned pcr1", "nitro", nitro, map[string][]byte{"pcr8": pcr8, "pcr1": sim}, true},
	}
	for _, c := range trust {
		if got := pol.TrustsEvidence(c.platform, c.m, c.extra); got != c.want {
			t.Errorf("%s: TrustsEvidence = %v", c.name, got)
		}
		if c.extra == nil {
			if got := pol.TrustsMeasurement(c.platform, c.m); got != c.want {
				t.Errorf("%s: TrustsMeasurement = %v", c.name, got)
			}
		}
	}
	if len(pol.Runtimes("nitro")) != 1 || len(pol.Runtimes("tdx")) != 0 {
		t.Error("Runtimes wrong")
	}
	if pol.Expired(testNow) || !pol.Expired(p.Expires) || !pol.Expired(p.Expires.Add(time.Second)) {
		t.Error("Expired wrong")
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}

// TestUnparsedSaysNo: a policy built by hand, not parsed, grants nothing.
func TestUnparsedSaysNo(t *testing.T) {
	p := validPolicy(t)
	sim, _ := hex.DecodeString(simMeasurement)
	if p.PrincipalAllows("alice", "/input/alice/x", capability.Write) ||
		p.ProgramAllows("/program/shamir.wasm", "/input/x", capability.Read) ||
		p.TrustsMeasurement("sim", sim) || p.PrincipalByCert(fixtures(t).aliceDER) != nil ||
		p.CACertificate() != nil {
		t.Fatal("unparsed policy granted something")
	}
}

func TestLimits(t *testing.T) {
	var zero Limits
	if zero.Memory() != 256<<20 || zero.Exec() != time.Minute || zero.File() != 1024<<20 || zero.Total() != 4096<<20 {
		t.Fatalf("defaults wrong: %d %v %d %d", zero.Memory(), zero.Exec(), zero.File(), zero.Total())
	}
	l := Limits{MemoryMiB: 1, ExecSeconds: 2, FileMiB: 3, TotalMiB: 4}
	if l.Memory() != 1<<20 || l.Exec() != 2*time.Second || l.File() != 3<<20 || l.Total() != 4<<20 {
		t.Fatal("limits not applied")
	}
}

// FuzzParse: Parse never panics, and whatever it accepts is accepted again
// from its own bytes and after re-encoding, with the same answers.
func FuzzParse(f *testing.F) {
	good := encode(f, validPolicy(f))
	f.Add(good)
	p := validPolicy(f)
	p.Pipelines = []Pipeline{{Name: "one", Steps: []string{"/program/shamir.wasm"}}}
	p.Attestation.Runtimes = append(p.Attestation.Runtimes, Runtime{Platform: "tdx", Measurement: hexOf(48, 3), Extra: map[string]string{"rtmr1": hexOf(48, 4)}})
	p.Limits = Limits{MemoryMiB: 64, ExecSeconds: 5}
	f.Add(encode(f, p))
	until := testNow.Add(time.Hour)
	p.Principals[0].Budgets = map[string]Budget{"/input/alice/": {MaxRuns: 2, NotAfter: &until}}
	p.Holds = []Hold{{Path: "/output/", ReleaseBy: []string{"bob"}}}
	p.Lifecycle = &Lifecycle{Quorum: &Quorum{Threshold: 1, Of: []string{"alice", "bob"}},
		Predecessor: &Predecessor{Genesis: hexOf(32, 1), Policy: hexOf(32, 2), Sequence: 2}, CarryOver: []string{"/input/"}}
	p.Attestation.MinimumTCB = map[string]TCB{"tdx": {"pce_svn": 11, "tee_tcb_svn.0": 3}}
	p.Attestation.Revoked = []Revocation{{Platform: "sim", Measurement: hexOf(32, 9), Reason: "old"}}
	f.Add(encode(f, p))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"version":1}`))
	f.Add([]byte(`{"principals":[{"capabilities":{"/a/":"rwax","b":"q"}}]}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Add([]byte("{\"name\":\"\xff\"}"))
	f.Add([]byte(`{"limits":{"memory_mib":-9223372036854775809}} x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, testNow)
		if err != nil {
			if p != nil {
				t.Fatal("policy and error both returned")
			}
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		again, err := Parse(p.Bytes(), testNow)
		if err != nil || again.Hash() != p.Hash() {
			t.Fatalf("accepted policy refused from its own bytes: %v", err)
		}
		re, err := Encode(p)
		if err != nil {
			t.Fatalf("accepted policy cannot be encoded: %v", err)
		}
		q, err := Parse(re, testNow)
		if err != nil {
			t.Fatalf("accepted policy refused after re-encoding: %v\n%s", err, re)
		}
		if q.Hash() == p.Hash() && !bytes.Equal(re, p.Bytes()) {
			t.Fatal("different bytes, same hash")
		}
		for _, pr := range p.Principals {
			for _, g := range pr.Capabilities.Paths() {
				probe := g
				if g[len(g)-1] == '/' {
					probe = g + "probe"
				}
				for r := capability.Rights(1); r <= capability.All; r++ {
					if p.PrincipalAllows(pr.Name, probe, r) != q.PrincipalAllows(pr.Name, probe, r) {
						t.Fatalf("re-encoded policy answers differently for %s %s %v", pr.Name, probe, r)
					}
				}
				if !p.PrincipalAllows(pr.Name, probe, pr.Capabilities[g]) {
					t.Fatalf("grant %s %q not honoured", pr.Name, g)
				}
			}
		}
	})
}

func TestEncodeReadable(t *testing.T) {
	p := validPolicy(t)
	p.Name = "a <b> & c"
	b := encode(t, p)
	if !bytes.Contains(b, []byte(`"name": "a <b> & c"`)) || bytes.Count(b, []byte("\n\n")) != 0 || !bytes.HasSuffix(b, []byte("}\n")) {
		t.Fatalf("not readable:\n%s", b)
	}
	mustParse(t, b)
}

// TestServerName: the server name is the first 16 hex digits of the
// genesis hash with ServerNameSuffix, and a successor's is its chain's
// first policy's, so clients of either reach the same enclave.
func TestServerName(t *testing.T) {
	genesis := mustParse(t, encode(t, validPolicy(t)))
	g := genesis.Hash()
	want := hex.EncodeToString(g[:8]) + ".truce"
	if got := genesis.ServerName(); got != want || len(got) != 16+len(ServerNameSuffix) {
		t.Fatalf("ServerName = %q, want %q", got, want)
	}
	next := validPolicy(t)
	next.Lifecycle = &Lifecycle{Predecessor: &Predecessor{Genesis: genesis.HashHex(), Policy: genesis.HashHex(), Sequence: 1}}
	succ := mustParse(t, encode(t, next))
	if succ.Hash() == genesis.Hash() {
		t.Fatal("the successor has the genesis policy's hash")
	}
	if succ.ServerName() != genesis.ServerName() {
		t.Fatalf("successor's server name %q, genesis's %q: clients of the chain would reach different enclaves", succ.ServerName(), genesis.ServerName())
	}
	ab := validPolicy(t)
	ab.Lifecycle = &Lifecycle{Predecessor: &Predecessor{Genesis: "ab" + strings.Repeat("0", 62), Policy: hexOf(32, 2), Sequence: 2}}
	if got := mustParse(t, encode(t, ab)).ServerName(); got != "ab00000000000000.truce" {
		t.Fatalf("ServerName of a successor of genesis ab00… = %q", got)
	}
	other := validPolicy(t)
	other.Name = "another chain"
	if o := mustParse(t, encode(t, other)); o.ServerName() == genesis.ServerName() {
		t.Fatalf("two chains share the server name %q", o.ServerName())
	}
}
