package succession

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/policy"
)

var now = time.Now()

// fixture is a first policy with a quorum of 2 of alice, bob and carol,
// a budget of alice on /input/alice/ and a hold on /output/ released by
// carol; dave is a principal outside the quorum, eve no principal at all.
type fixture struct {
	ids  map[string]*identity.Identity
	doc  map[string]any
	base *policy.Policy
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{ids: map[string]*identity.Identity{}}
	var prins []any
	for _, n := range []string{"alice", "bob", "carol", "dave", "eve"} {
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.ids[n] = id
		if n == "eve" {
			continue
		}
		pr := map[string]any{"name": n, "cert": string(id.CertPEM()), "capabilities": map[string]string{"/input/" + n + "/": "w", "/output/": "r"}}
		if n == "alice" {
			pr["budgets"] = map[string]any{"/input/alice/": map[string]any{"once": true}}
		}
		prins = append(prins, pr)
	}
	f.doc = map[string]any{
		"version": 1, "name": "succession-test", "expires": now.Add(24 * time.Hour).UTC().Format(time.RFC3339), "host": "127.0.0.1:3017",
		"attestation": map[string]any{"service": "https://127.0.0.1:3010", "ca_cert": string(attesttest.NewCA(t).PEM()),
			"runtimes": []any{map[string]string{"platform": "sim", "measurement": hex.EncodeToString(bytes.Repeat([]byte{7}, 32))}}},
		"principals": prins, "programs": []any{}, "limits": map[string]any{},
		"holds":     []any{map[string]any{"path": "/output/", "release_by": []string{"carol"}}},
		"lifecycle": map[string]any{"quorum": map[string]any{"threshold": 2, "of": []string{"alice", "bob", "carol"}}},
	}
	f.base = f.parse(t, f.doc)
	return f
}

func (f *fixture) parse(t testing.TB, doc map[string]any) *policy.Policy {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(b, now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// next makes a successor of base carrying carry, changed by edit.
func (f *fixture) next(t testing.TB, base *policy.Policy, carry []string, edit func(doc, lc map[string]any)) *policy.Policy {
	t.Helper()
	var doc map[string]any
	_ = json.Unmarshal(base.Bytes(), &doc)
	g := base.GenesisHash()
	lc := map[string]any{
		"quorum":      map[string]any{"threshold": 2, "of": []string{"alice", "bob", "carol"}},
		"predecessor": map[string]any{"genesis": hex.EncodeToString(g[:]), "policy": base.HashHex(), "sequence": base.Sequence() + 1},
	}
	if carry != nil {
		lc["carry_over"] = carry
	}
	doc["lifecycle"] = lc
	if edit != nil {
		edit(doc, lc)
	}
	return f.parse(t, doc)
}

// approve signs with each named identity's key, under the name given
// first in each pair "name:key" or the same name.
func (f *fixture) approve(t testing.TB, base, next *policy.Policy, who ...[2]string) []api.PolicyApproval {
	t.Helper()
	var out []api.PolicyApproval
	d := sha256.Sum256(Message(base.Hash(), next.Hash()))
	for _, w := range who {
		sig, err := f.ids[w[1]].Key.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, api.PolicyApproval{Signer: w[0], Signature: sig})
	}
	return out
}

func by(names ...string) [][2]string {
	out := make([][2]string, len(names))
	for i, n := range names {
		out[i] = [2]string{n, n}
	}
	return out
}

func TestMessage(t *testing.T) {
	var a, b [32]byte
	a[0], b[31] = 1, 2
	m := Message(a, b)
	want := append(append([]byte("truce-policy-approval-v1\x00"), a[:]...), b[:]...)
	if !bytes.Equal(m, want) || len(m) != 25+64 {
		t.Fatalf("message = %x", m)
	}
}

func TestCheck(t *testing.T) {
	f := newFixture(t)
	good := f.next(t, f.base, []string{"/input/bob/"}, nil)
	frozenDoc := map[string]any{}
	for k, v := range f.doc {
		frozenDoc[k] = v
	}
	delete(frozenDoc, "lifecycle")
	frozen := f.parse(t, frozenDoc)
	cases := []struct {
		name      string
		base      *policy.Policy
		next      *policy.Policy
		approvals func(base, next *policy.Policy) []api.PolicyApproval
		want      error
	}{
		{"two of three", f.base, good, nil, nil},
		{"three of three", f.base, good, func(b, n *policy.Policy) []api.PolicyApproval {
			return f.approve(t, b, n, by("carol", "alice", "bob")...)
		}, nil},
		{"frozen base", frozen, f.next(t, frozen, nil, nil), nil, ErrFrozen},
		{"one of three", f.base, good, func(b, n *policy.Policy) []api.PolicyApproval { return f.approve(t, b, n, by("alice")...) }, ErrNoQuorum},
		{"none", f.base, good, func(b, n *policy.Policy) []api.PolicyApproval { return nil }, ErrNoQuorum},
		{"duplicated signer", f.base, good, func(b, n *policy.Policy) []api.PolicyApproval { return f.approve(t, b, n, by("alice", "alice")...) }, ErrDuplicate},
		{"principal outside quorum", f.base, good, func(b, n *policy.Policy) []api.PolicyApproval { return f.approve(t, b, n, by("alice", "dave")...) }, ErrOutsider},
		{"stranger", f.base, good, func(b, n *policy.Policy) []api.PolicyApproval { return f.approve(t, b, n, by("alice", "eve")...) }, ErrOutsider},
		{"stranger's key under a member's name", f.base, good, func(b, n *policy.Policy) []api.PolicyApproval {
			return f.approve(t, b, n, [2]string{"alice", "alice"}, [2]string{"bob", "eve"})
		}, ErrSignature},
		{"approval of another successor", f.base, good, func(b, n *policy.Policy) []api.PolicyApproval {
			return f.approve(t, b, f.next(t, f.base, nil, func(doc, _ map[string]any) { doc["name"] = "x" }), by("alice", "bob")...)
		}, ErrSignature},
		{"successor lowers its own quorum", f.base, f.next(t, f.base, nil, func(_, lc map[string]any) {
			lc["quorum"] = map[string]any{"threshold": 1, "of": []string{"alice"}}
		}), func(b, n *policy.Policy) []api.PolicyApproval { return f.approve(t, b, n, by("alice")...) }, ErrNoQuorum},
		{"successor raises its own quorum: N's rule admits it, the new rule governs N+2", f.base, f.next(t, f.base, nil, func(_, lc map[string]any) {
			lc["quorum"] = map[string]any{"threshold": 3, "of": []string{"alice", "bob", "carol"}}
		}), nil, nil},
		{"names another predecessor", f.base, f.next(t, f.base, nil, func(_, lc map[string]any) {
			lc["predecessor"].(map[string]any)["policy"] = hex.EncodeToString(make([]byte, 32))
			lc["predecessor"].(map[string]any)["sequence"] = 2
		}), nil, ErrNotSuccessor},
		{"skips a sequence", f.base, f.next(t, f.base, nil, func(_, lc map[string]any) { lc["predecessor"].(map[string]any)["sequence"] = 2 }), nil, ErrNotSuccessor},
		{"attestation changed", f.base, f.next(t, f.base, nil, func(doc, _ map[string]any) {
			doc["attestation"].(map[string]any)["service"] = "https://127.0.0.1:4000"
		}), nil, ErrFixedField},
		{"host changed", f.base, f.next(t, f.base, nil, func(doc, _ map[string]any) { doc["host"] = "127.0.0.1:1" }), nil, ErrFixedField},
		{"expires later", f.base, f.next(t, f.base, nil, func(doc, _ map[string]any) {
			doc["expires"] = now.Add(48 * time.Hour).UTC().Format(time.RFC3339)
		}), nil, ErrFixedField},
		{"file limit changed", f.base, f.next(t, f.base, nil, func(doc, _ map[string]any) { doc["limits"] = map[string]any{"file_mib": 1} }), nil, ErrFixedField},
		{"budgeted data without its owner", f.base, f.next(t, f.base, []string{"/input/"}, nil), func(b, n *policy.Policy) []api.PolicyApproval {
			return f.approve(t, b, n, by("bob", "carol")...)
		}, ErrOwnerConsent},
		{"budgeted data with its owner", f.base, f.next(t, f.base, []string{"/input/alice/x"}, nil), func(b, n *policy.Policy) []api.PolicyApproval {
			return f.approve(t, b, n, by("alice", "bob")...)
		}, nil},
		{"held data without its releaser", f.base, f.next(t, f.base, []string{"/"}, nil), func(b, n *policy.Policy) []api.PolicyApproval {
			return f.approve(t, b, n, by("alice", "bob")...)
		}, ErrOwnerConsent},
		{"held data with its releaser", f.base, f.next(t, f.base, []string{"/output/a"}, nil), func(b, n *policy.Policy) []api.PolicyApproval {
			return f.approve(t, b, n, by("bob", "carol")...)
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ap := c.approvals
			if ap == nil {
				ap = func(b, n *policy.Policy) []api.PolicyApproval { return f.approve(t, b, n, by("alice", "bob")...) }
			}
			_, err := Check(c.base, c.next, ap(c.base, c.next), now)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, c.want)
			}
		})
	}
	// An expired signer certificate does not count.
	if _, err := Check(f.base, good, f.approve(t, f.base, good, by("alice", "bob")...), now.Add(3*365*24*time.Hour)); !errors.Is(err, ErrSignature) {
		t.Fatalf("approval checked after the signer's certificate expired: %v", err)
	}
}

func TestSignAndChain(t *testing.T) {
	f := newFixture(t)
	n1 := f.next(t, f.base, []string{"/input/bob/"}, nil)
	p, err := Propose(f.base, n1)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alice", "bob", "alice"} { // alice again replaces her approval
		if err := Sign(p, f.base, n1, f.ids[n]); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.Approvals) != 2 {
		t.Fatalf("%d approvals", len(p.Approvals))
	}
	for _, n := range []string{"dave", "eve"} {
		if err := Sign(p, f.base, n1, f.ids[n]); !errors.Is(err, ErrOutsider) {
			t.Fatalf("%s signed: %v", n, err)
		}
	}
	q, err := ParseProposal(Encode(p))
	if err != nil {
		t.Fatal(err)
	}
	n2 := f.next(t, n1, nil, nil)
	links := []api.PolicyLink{
		{SHA256: f.base.HashHex(), Policy: f.base.Bytes()},
		{SHA256: n1.HashHex(), Policy: n1.Bytes(), Approvals: q.Approvals},
		{SHA256: n2.HashHex(), Policy: n2.Bytes(), Approvals: f.approve(t, n1, n2, by("bob", "carol")...)},
	}
	pols, err := VerifyChain(links, f.base.Hash(), now)
	if err != nil || len(pols) != 3 || pols[2].Sequence() != 2 || pols[2].GenesisHash() != f.base.Hash() {
		t.Fatalf("chain: %v", err)
	}
	bad := map[string]func(ls []api.PolicyLink) [32]byte{
		"other genesis":   func(ls []api.PolicyLink) [32]byte { return n1.Hash() },
		"dropped middle":  func(ls []api.PolicyLink) [32]byte { ls[1] = ls[2]; return f.base.Hash() },
		"wrong link hash": func(ls []api.PolicyLink) [32]byte { ls[2].SHA256 = ls[1].SHA256; return f.base.Hash() },
		"approvals swapped": func(ls []api.PolicyLink) [32]byte {
			ls[1].Approvals, ls[2].Approvals = ls[2].Approvals, ls[1].Approvals
			return f.base.Hash()
		},
		"approval on genesis": func(ls []api.PolicyLink) [32]byte { ls[0].Approvals = ls[1].Approvals; return f.base.Hash() },
		"byte of policy": func(ls []api.PolicyLink) [32]byte {
			ls[2].Policy = append(bytes.Clone(ls[2].Policy), ' ')
			return f.base.Hash()
		},
		"starts at successor":  func(ls []api.PolicyLink) [32]byte { ls[0] = ls[1]; return n1.Hash() },
		"one approval dropped": func(ls []api.PolicyLink) [32]byte { ls[2].Approvals = ls[2].Approvals[:1]; return f.base.Hash() },
	}
	for name, mutate := range bad {
		ls := make([]api.PolicyLink, len(links))
		copy(ls, links)
		if _, err := VerifyChain(ls, mutate(ls), now); err == nil {
			t.Errorf("%s: chain verifies", name)
		}
	}
}

func TestParseProposal(t *testing.T) {
	for name, in := range map[string]string{
		"not json":       `{`,
		"trailing":       `{"version":1,"base":"eA==","policy":"eA==","approvals":[]} {}`,
		"unknown field":  `{"version":1,"base":"eA==","policy":"eA==","approvals":[],"x":1}`,
		"version":        `{"version":2,"base":"eA==","policy":"eA==","approvals":[]}`,
		"no base":        `{"version":1,"policy":"eA==","approvals":[]}`,
		"no policy":      `{"version":1,"base":"eA==","approvals":[]}`,
		"bad base64":     `{"version":1,"base":"!","policy":"eA==","approvals":[]}`,
		"empty signer":   `{"version":1,"base":"eA==","policy":"eA==","approvals":[{"signer":"","signature":"eA=="}]}`,
		"no signature":   `{"version":1,"base":"eA==","policy":"eA==","approvals":[{"signer":"a"}]}`,
		"not an object":  `[]`,
		"approvals type": `{"version":1,"base":"eA==","policy":"eA==","approvals":{}}`,
	} {
		if _, err := ParseProposal([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseProposal(bytes.Repeat([]byte(" "), MaxProposal+1)); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized proposal: %v", err)
	}
}

// FuzzProposal feeds untrusted proposal bytes through everything the
// enclave does with them: parse, parse both policies, check. Nothing may
// panic, and nothing but a correctly signed successor may pass.
func FuzzProposal(f *testing.F) {
	fx := newFixture(f)
	n1 := fx.next(f, fx.base, []string{"/input/bob/"}, nil)
	p, _ := Propose(fx.base, n1)
	f.Add(Encode(p))
	p.Approvals = fx.approve(f, fx.base, n1, by("alice", "bob")...)
	f.Add(Encode(p))
	f.Add([]byte(`{"version":1,"base":"eA==","policy":"eA==","approvals":[{"signer":"alice","signature":"MEUCIQ=="}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		prop, err := ParseProposal(data)
		if err != nil {
			return
		}
		if !bytes.Equal(prop.Base, fx.base.Bytes()) {
			return
		}
		next, err := policy.Parse(prop.Policy, now)
		if err != nil {
			return
		}
		signers, err := Check(fx.base, next, prop.Approvals, now)
		if err == nil && len(signers) < 2 {
			t.Fatalf("accepted with signers %v", signers)
		}
	})
}

// BenchmarkCheck measures the enclave's cost of checking a successor with
// two approvals, against parsing the successor policy (which the enclave
// does first anyway) as the baseline of the same run.
func BenchmarkCheck(b *testing.B) {
	f := newFixture(b)
	n1 := f.next(b, f.base, []string{"/input/bob/"}, nil)
	ap := f.approve(b, f.base, n1, by("alice", "bob")...)
	b.Run("parse-successor", func(b *testing.B) {
		for b.Loop() {
			if _, err := policy.Parse(n1.Bytes(), now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check-two-approvals", func(b *testing.B) {
		for b.Loop() {
			if _, err := Check(f.base, n1, ap, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzVerifyChain feeds arbitrary chain documents (as GET
// /v1/policy/chain answers) to VerifyChain: nothing may panic, and an
// accepted chain starts at the bound hash and is approved link by link.
func FuzzVerifyChain(f *testing.F) {
	fx := newFixture(f)
	n1 := fx.next(f, fx.base, []string{"/input/bob/"}, nil)
	good, _ := json.Marshal(api.PolicyChain{Links: []api.PolicyLink{
		{SHA256: fx.base.HashHex(), Policy: fx.base.Bytes()},
		{SHA256: n1.HashHex(), Policy: n1.Bytes(), Approvals: fx.approve(f, fx.base, n1, by("alice", "bob")...)},
	}})
	f.Add(good)
	f.Add([]byte(`{"links":[]}`))
	f.Add([]byte(`{"links":[{"sha256":"00","policy":"e30=","approvals":null}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ch api.PolicyChain
		if json.Unmarshal(data, &ch) != nil {
			return
		}
		pols, err := VerifyChain(ch.Links, fx.base.Hash(), now)
		if err != nil {
			return
		}
		if pols[0].Hash() != fx.base.Hash() {
			t.Fatal("accepted a chain from another first policy")
		}
		for i := 1; i < len(pols); i++ {
			if _, err := Check(pols[i-1], pols[i], ch.Links[i].Approvals, now); err != nil {
				t.Fatalf("accepted link %d that Check refuses: %v", i, err)
			}
		}
	})
}
