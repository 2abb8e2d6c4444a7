package client_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
)

// successorOf makes a successor of base named name.
func successorOf(t *testing.T, base *policy.Policy, name string) *policy.Policy {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(base.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	g := base.GenesisHash()
	doc["name"] = name
	doc["lifecycle"] = &policy.Lifecycle{Quorum: base.Quorum(),
		Predecessor: &policy.Predecessor{Genesis: hex.EncodeToString(g[:]), Policy: base.HashHex(), Sequence: base.Sequence() + 1}}
	b, _ := json.Marshal(doc)
	p, err := policy.Parse(b, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDialFollowsVerifiedChain: a client trusting the first policy, or a
// successor, accepts an enclave that moved on only along a chain each of
// whose links the quorum approved, and that passes through its policy.
func TestDialFollowsVerifiedChain(t *testing.T) {
	ctx := context.Background()
	w := trucetest.NewWorld(t, trucetest.WorldOptions{
		Principals: map[string]map[string]string{"alice": {"/": "rwa"}, "bob": {"/x": "r"}, "carol": {"/y": "r"}},
		Lifecycle:  &policy.Lifecycle{Quorum: &policy.Quorum{Threshold: 2, Of: []string{"alice", "bob", "carol"}}},
	})
	p1 := successorOf(t, w.Policy, "one")
	sibling := successorOf(t, w.Policy, "sibling")
	approve := func(base, next *policy.Policy, who ...string) []api.PolicyApproval {
		pr, _ := succession.Propose(base, next)
		for _, n := range who {
			if err := succession.Sign(pr, base, next, w.IDs[n]); err != nil {
				t.Fatal(err)
			}
		}
		return pr.Approvals
	}
	link := func(p *policy.Policy, a []api.PolicyApproval) api.PolicyLink {
		return api.PolicyLink{SHA256: p.HashHex(), Policy: p.Bytes(), Approvals: a}
	}
	for _, c := range []struct {
		name    string
		trusted *policy.Policy
		links   []api.PolicyLink
		ok      bool
	}{
		{"approved, trusting the first", w.Policy, []api.PolicyLink{link(w.Policy, nil), link(p1, approve(w.Policy, p1, "alice", "carol"))}, true},
		{"approved, trusting the successor", p1, []api.PolicyLink{link(w.Policy, nil), link(p1, approve(w.Policy, p1, "bob", "carol"))}, true},
		{"one approval of two", w.Policy, []api.PolicyLink{link(w.Policy, nil), link(p1, approve(w.Policy, p1, "alice"))}, false},
		{"no chain shown", w.Policy, nil, false},
		{"chain skips the first policy", p1, []api.PolicyLink{link(p1, nil)}, false},
		{"a sibling the client never agreed to", sibling, []api.PolicyLink{link(w.Policy, nil), link(p1, approve(w.Policy, p1, "alice", "bob"))}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &store{files: map[string][]byte{}, policy: p1.Bytes()}
			if c.links != nil {
				st.chain = &api.PolicyChain{Links: c.links}
			}
			fe := w.ServeFakeEnclave(t, nil, st)
			s, err := client.Dial(ctx, c.trusted, w.IDs["alice"], client.WithAddr(fe.Addr))
			if !c.ok {
				if !errors.Is(err, client.ErrPolicyMismatch) {
					t.Fatalf("Dial = %v, want ErrPolicyMismatch", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Current().Hash() != p1.Hash() || len(s.Chain()) != 2 {
				t.Fatalf("current %s, chain of %d", s.Current().HashHex(), len(s.Chain()))
			}
		})
	}
}
