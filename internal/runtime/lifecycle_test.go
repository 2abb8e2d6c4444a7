package runtime

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/bundle"
	truceclient "github.com/truce-project/truce/client"
	sss "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
	"github.com/truce-project/truce/receipt"
)

// quorum2 is the succession rule of the lifecycle tests: two of alice,
// bob and rita.
func quorum2() *policy.Lifecycle {
	return &policy.Lifecycle{Quorum: &policy.Quorum{Threshold: 2, Of: []string{"alice", "bob", "rita"}}}
}

// successor makes a successor of base: the same document, naming base as
// predecessor and carrying over carry, changed by edit (if not nil).
func successor(t testing.TB, base *policy.Policy, carry []string, edit func(doc map[string]any)) *policy.Policy {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(base.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	g := base.GenesisHash()
	lc := &policy.Lifecycle{Quorum: base.Quorum(), CarryOver: carry,
		Predecessor: &policy.Predecessor{Genesis: hex.EncodeToString(g[:]), Policy: base.HashHex(), Sequence: base.Sequence() + 1}}
	doc["lifecycle"] = lc
	if edit != nil {
		edit(doc)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(b, time.Now())
	if err != nil {
		t.Fatalf("successor: %v", err)
	}
	return p
}

// propose makes a proposal of next after base signed by signers.
func (w *world) propose(base, next *policy.Policy, signers ...string) []byte {
	w.t.Helper()
	p, err := succession.Propose(base, next)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, n := range signers {
		if err := succession.Sign(p, base, next, w.ids[n]); err != nil {
			w.t.Fatalf("%s signing: %v", n, err)
		}
	}
	return succession.Encode(p)
}

func TestSuccessorCarriesOverExactly(t *testing.T) {
	w := newWorld(t, worldOptions{lifecycle: quorum2()})
	w.start()
	secret := []byte("carried secret")
	w.uploadShamir(secret)
	rita := w.client("rita", true)
	rita.run(pShamir, http.StatusOK)

	carry := []string{"/input/shamir-0.dat", "/input/shamir-1.dat", "/input/shamir-2.dat", "/program/"}
	next := successor(t, w.pol, carry, nil)
	before := w.snapshot()
	r := rita.must(http.MethodPost, api.PathPolicySuccessor, w.propose(w.pol, next, "alice", "bob"), http.StatusOK)
	var ch api.PolicyChange
	if err := json.Unmarshal(r.body, &ch); err != nil {
		t.Fatal(err)
	}
	if ch.Current != next.HashHex() || ch.Previous != w.pol.HashHex() || ch.Sequence != 1 || ch.Carried != 4 || ch.Wiped != 1 {
		t.Fatalf("change = %+v", ch)
	}
	// Exactly the files named are left, as they were: the output is gone.
	want := map[string]string{}
	for _, p := range []string{"/input/shamir-0.dat", "/input/shamir-1.dat", "/input/shamir-2.dat", pShamir} {
		want[p] = before[p]
	}
	if after := w.snapshot(); !sameFiles(after, want) || len(before) != 5 {
		t.Fatalf("files after the change = %v, want %v (before %v)", after, want, before)
	}
	rita.refused(http.MethodGet, api.PathFiles+"output/shamir.dat", nil, http.StatusNotFound, api.ProblemNotFound)
	// GET /v1/policy answers the new bytes and names the chain.
	pr := rita.must(http.MethodGet, api.PathPolicy, nil, http.StatusOK)
	if !bytes.Equal(pr.body, next.Bytes()) || pr.header.Get(api.HeaderPolicyChain) != w.pol.HashHex()+","+next.HashHex() {
		t.Fatalf("policy after the change: %d bytes, chain %q", len(pr.body), pr.header.Get(api.HeaderPolicyChain))
	}
	var chain api.PolicyChain
	if err := json.Unmarshal(rita.must(http.MethodGet, api.PathPolicyChain, nil, http.StatusOK).body, &chain); err != nil {
		t.Fatal(err)
	}
	pols, err := succession.VerifyChain(chain.Links, w.pol.Hash(), time.Now())
	if err != nil || len(pols) != 2 || pols[1].Hash() != next.Hash() {
		t.Fatalf("chain: %v (%d policies)", err, len(pols))
	}
	// Later receipts carry the chain and verify against the successor.
	res := rita.run(pShamir, http.StatusOK)
	if got := rita.get("/output/shamir.dat"); !bytes.Equal(got, secret) {
		t.Fatalf("output from carried inputs %q", got)
	}
	rc := res.Receipt
	if len(rc.PolicyChain) != 2 || rc.PolicyHash != next.HashHex() {
		t.Fatalf("receipt chain %v, policy %s", rc.PolicyChain, rc.PolicyHash)
	}
	if err := receipt.Verify(&rc, next, time.Now()); err != nil {
		t.Fatalf("receipt under the successor: %v", err)
	}
	if err := receipt.Verify(&rc, w.pol, time.Now()); err == nil {
		t.Fatal("receipt made under the successor verifies against the first policy")
	}
	// Replaying the same approved proposal is refused: the base is gone.
	rita.refused(http.MethodPost, api.PathPolicySuccessor, w.propose(w.pol, next, "alice", "bob"), http.StatusForbidden, api.ProblemSuccessorRefused)
	// Audit log names the change.
	var log api.AuditLog
	_ = json.Unmarshal(rita.must(http.MethodGet, api.PathAudit, nil, http.StatusOK).body, &log)
	found := false
	for _, e := range log.Entries {
		if e.Action == "policy-successor" && e.Outcome == "ok" && len(e.Hashes) == 2 && e.Hashes[1] == next.HashHex() {
			found = true
		}
	}
	if !found {
		t.Fatalf("no audit entry of the change in %+v", log.Entries)
	}
}

func TestSuccessorRefusedChangesNothing(t *testing.T) {
	w := newWorld(t, worldOptions{lifecycle: quorum2()})
	w.start()
	w.uploadShamir([]byte("stays"))
	rita := w.client("rita", true)
	next := successor(t, w.pol, []string{"/program/"}, nil)
	other := successor(t, w.pol, []string{"/"}, func(doc map[string]any) { doc["name"] = "other" })
	forge := func(signer, key string) []byte {
		p, _ := succession.Propose(w.pol, next)
		d := sha256.Sum256(succession.Message(w.pol.Hash(), next.Hash()))
		sig, err := w.ids[key].Key.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		p.Approvals = append(p.Approvals, api.PolicyApproval{Signer: signer, Signature: sig})
		if err := succession.Sign(p, w.pol, next, w.ids["alice"]); err != nil {
			t.Fatal(err)
		}
		return succession.Encode(p)
	}
	// Approvals of "other" moved onto "next": the signatures are over
	// another successor.
	moved := func() []byte {
		var po api.PolicyProposal
		_ = json.Unmarshal(w.propose(w.pol, other, "alice", "bob"), &po)
		po.Policy = next.Bytes()
		return succession.Encode(&po)
	}()
	dup := func() []byte {
		var po api.PolicyProposal
		_ = json.Unmarshal(w.propose(w.pol, next, "alice"), &po)
		po.Approvals = append(po.Approvals, po.Approvals[0])
		return succession.Encode(&po)
	}()
	selfQuorum := successor(t, w.pol, []string{"/"}, func(doc map[string]any) {
		doc["lifecycle"].(*policy.Lifecycle).Quorum = &policy.Quorum{Threshold: 1, Of: []string{"alice"}}
	})
	attChanged := successor(t, w.pol, []string{"/"}, func(doc map[string]any) {
		att := doc["attestation"].(map[string]any)
		att["runtimes"] = []map[string]string{{"platform": "sim", "measurement": hex.EncodeToString(bytes.Repeat([]byte{1}, 32))}}
	})
	wrongSeq := successor(t, w.pol, nil, func(doc map[string]any) {
		doc["lifecycle"].(*policy.Lifecycle).Predecessor.Sequence = 2
	})
	var foreignBase api.PolicyProposal
	_ = json.Unmarshal(w.propose(w.pol, next, "alice", "bob"), &foreignBase)
	foreignBase.Base = append(bytes.Clone(foreignBase.Base), ' ')
	for name, body := range map[string][]byte{
		"one approval of two":      w.propose(w.pol, next, "alice"),
		"no approvals":             w.propose(w.pol, next),
		"outsider under own name":  forge("mallory", "mallory"),
		"outsider as a member":     forge("bob", "mallory"),
		"principal outside quorum": forge("paula", "paula"),
		"duplicated signer":        dup,
		"approvals of another":     moved,
		"successor lowers quorum":  w.propose(w.pol, selfQuorum, "alice"),
		"attestation changed":      mustPropose(t, w, attChanged),
		"wrong sequence":           mustPropose(t, w, wrongSeq),
		"other base":               succession.Encode(&foreignBase),
		"not json":                 []byte("{"),
		"unknown field":            []byte(`{"version":1,"base":"eA==","policy":"eA==","approvals":[],"extra":1}`),
	} {
		t.Run(name, func(t *testing.T) {
			before := w.snapshot()
			c := rita.on(t)
			status, typ := http.StatusForbidden, api.ProblemSuccessorRefused
			if name == "not json" || name == "unknown field" {
				status, typ = http.StatusBadRequest, api.ProblemBadRequest
			}
			c.refused(http.MethodPost, api.PathPolicySuccessor, body, status, typ)
			if !sameFiles(before, w.snapshot()) {
				t.Fatal("a refused successor changed files")
			}
			if w.rt.Policy() != w.pol {
				t.Fatal("a refused successor changed the policy")
			}
		})
	}
}

// mustPropose builds a proposal without the shape checks of Propose (for
// successors those checks would refuse), signed by alice and bob.
func mustPropose(t testing.TB, w *world, next *policy.Policy) []byte {
	p := &api.PolicyProposal{Version: succession.ProposalVersion, Base: w.pol.Bytes(), Policy: next.Bytes()}
	for _, n := range []string{"alice", "bob"} {
		d := sha256.Sum256(succession.Message(w.pol.Hash(), next.Hash()))
		sig, err := w.ids[n].Key.Sign(rand.Reader, d[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		p.Approvals = append(p.Approvals, api.PolicyApproval{Signer: n, Signature: sig})
	}
	return succession.Encode(p)
}

func TestFrozenPolicyRefusesSuccessor(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	next := successor(t, w.pol, nil, nil)
	w.client("rita", true).refused(http.MethodPost, api.PathPolicySuccessor, mustPropose(t, w, next), http.StatusForbidden, api.ProblemSuccessorRefused)
	if w.rt.Policy() != w.pol {
		t.Fatal("a policy without quorum changed")
	}
}

func TestOnceInputFeedsOneRun(t *testing.T) {
	w := newWorld(t, worldOptions{budgets: map[string]map[string]policy.Budget{
		"alice": {"/input/shamir-0.dat": {Once: true}},
		"bob":   {"/input/shamir-2.dat": {MaxRuns: 5}},
	}})
	w.start()
	w.uploadShamir([]byte("use me once"))
	w.client("paula", true).put(pCopy, w.misWasm, http.StatusCreated)
	rita := w.client("rita", true)
	res := rita.run(pShamir, http.StatusOK)
	want := []receipt.BudgetUse{{Principal: "alice", Path: "/input/shamir-0.dat", Runs: 1, MaxRuns: 1}, {Principal: "bob", Path: "/input/shamir-2.dat", Runs: 1, MaxRuns: 5}}
	if got, _ := json.Marshal(res.Receipt.Budgets); string(got) != string(must(json.Marshal(want))) {
		t.Fatalf("receipt budgets %s, want %s", got, must(json.Marshal(want)))
	}
	before := w.snapshot()
	p := rita.refused(http.MethodPost, api.PathRun+strings.TrimPrefix(pShamir, "/"), nil, http.StatusForbidden, api.ProblemBudgetExhausted)
	if !strings.Contains(p.Detail, "alice") || !sameFiles(before, w.snapshot()) {
		t.Fatalf("second run: %s; files changed: %v", p.Detail, !sameFiles(before, w.snapshot()))
	}
	// A new upload does not renew the budget: it is on the grant.
	w.client("alice", true).put("/input/shamir-0.dat", []byte("again"), http.StatusOK)
	rita.refused(http.MethodPost, api.PathRun+strings.TrimPrefix(pShamir, "/"), nil, http.StatusForbidden, api.ProblemBudgetExhausted)
	// A pipeline of two steps reading the data is refused as a whole.
	rita.refused(http.MethodPost, api.PathPipelines+"combine-copy", nil, http.StatusForbidden, api.ProblemBudgetExhausted)
}

func TestBudgetNotAfterAndPipelineCountsOnce(t *testing.T) {
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	w := newWorld(t, worldOptions{budgets: map[string]map[string]policy.Budget{
		"alice": {"/input/shamir-1.dat": {NotAfter: &until, MaxRuns: 2}},
	}})
	w.start()
	w.uploadShamir([]byte("twice at most"))
	w.client("paula", true).put(pCopy, w.misWasm, http.StatusCreated)
	rita := w.client("rita", true)
	r := rita.must(http.MethodPost, api.PathPipelines+"combine-copy", nil, http.StatusOK)
	var pr api.PipelineResult
	if err := json.Unmarshal(r.body, &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Receipt.Budgets) != 1 || pr.Receipt.Budgets[0].Runs != 1 {
		t.Fatalf("a pipeline counts as one run: %+v", pr.Receipt.Budgets)
	}
	w.offset.Store(int64(2 * time.Hour))
	rita.refused(http.MethodPost, api.PathRun+strings.TrimPrefix(pShamir, "/"), nil, http.StatusForbidden, api.ProblemBudgetExhausted)
	w.offset.Store(0)
	if got := rita.run(pShamir, http.StatusOK).Receipt.Budgets[0].Runs; got != 2 {
		t.Fatalf("runs = %d, want 2", got)
	}
	rita.refused(http.MethodPost, api.PathRun+strings.TrimPrefix(pShamir, "/"), nil, http.StatusForbidden, api.ProblemBudgetExhausted)
}

func TestHeldUntilReleased(t *testing.T) {
	w := newWorld(t, worldOptions{holds: []policy.Hold{{Path: "/output/", ReleaseBy: []string{"alice", "bob"}}}})
	w.start()
	secret := []byte("needs consent")
	w.uploadShamir(secret)
	rita := w.client("rita", true)
	res := rita.run(pShamir, http.StatusOK)
	if len(res.Stdout) != 0 || len(res.Stderr) != 0 {
		t.Fatalf("a program writing held outputs leaked its stdout %q", res.Stdout)
	}
	out := api.PathFiles + "output/shamir.dat"
	rel := api.PathRelease + "output/shamir.dat"
	p := rita.refused(http.MethodGet, out, nil, http.StatusForbidden, api.ProblemHeld)
	if !strings.Contains(p.Detail, "alice, bob") {
		t.Fatalf("detail %q does not name who must release", p.Detail)
	}
	rita.refused(http.MethodPost, rel, nil, http.StatusForbidden, api.ProblemForbidden)
	alice, bob := w.client("alice", true), w.client("bob", true)
	alice.refused(http.MethodPost, rel, []byte(`{"commitment":"`+hexSum([]byte("other"))+`"}`), http.StatusConflict, api.ProblemConflict)
	alice.refused(http.MethodPost, rel, []byte(`{"sha":1}`), http.StatusBadRequest, api.ProblemBadRequest)
	var rr api.ReleaseResult
	commit := res.Receipt.Outputs[0].Commitment
	_ = json.Unmarshal(alice.must(http.MethodPost, rel, []byte(`{"commitment":"`+commit+`"}`), http.StatusOK).body, &rr)
	if len(rr.Pending) != 1 || rr.Pending[0] != "bob" || rr.Commitment != commit {
		t.Fatalf("release = %+v", rr)
	}
	rita.refused(http.MethodGet, out, nil, http.StatusForbidden, api.ProblemHeld)
	bob.must(http.MethodPost, rel, nil, http.StatusOK)
	if got := rita.get("/output/shamir.dat"); !bytes.Equal(got, secret) {
		t.Fatalf("released output %q", got)
	}
	// New content needs new releases.
	shares, err := sss.Split([]byte("other result"), 3, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice.put("/input/shamir-0.dat", shares[0], http.StatusOK)
	alice.put("/input/shamir-1.dat", shares[1], http.StatusOK)
	bob.put("/input/shamir-2.dat", shares[2], http.StatusOK)
	rita.run(pShamir, http.StatusOK)
	rita.refused(http.MethodGet, out, nil, http.StatusForbidden, api.ProblemHeld)
	rita.refused(http.MethodPost, api.PathRelease+"input/x", nil, http.StatusNotFound, api.ProblemNotFound)
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestSuccessorDuringTraffic applies a successor while principals read,
// write and run: every request gets a whole answer under one policy or the
// other, and the change waits for those in flight (run with -race).
func TestSuccessorDuringTraffic(t *testing.T) {
	w := newWorld(t, worldOptions{lifecycle: quorum2()})
	w.start()
	w.uploadShamir([]byte("busy"))
	next := successor(t, w.pol, []string{"/"}, nil)
	body := w.propose(w.pol, next, "alice", "rita")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i, who := range []string{"rita", "bob", "alice"} {
		wg.Add(1)
		go func(i int, c *client) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var r *response
				var err error
				switch i {
				case 0:
					r, err = c.do(http.MethodPost, api.PathRun+strings.TrimPrefix(pShamir, "/"), nil)
				case 1:
					r, err = c.do(http.MethodPost, api.PathFiles+"input/shamir-2.dat", []byte("x"))
				default:
					r, err = c.do(http.MethodGet, api.PathPolicy, nil)
				}
				if err != nil {
					errs <- err
					return
				}
				if r.status >= 500 {
					errs <- fmt.Errorf("%s: status %d: %s", c.name, r.status, r.body)
					return
				}
			}
		}(i, w.client(who, i == 2))
	}
	time.Sleep(200 * time.Millisecond)
	w.client("rita", true).must(http.MethodPost, api.PathPolicySuccessor, body, http.StatusOK)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if w.rt.Policy().Hash() != next.Hash() {
		t.Fatal("the successor did not take effect")
	}
	// Every run, failed or not, is logged under the policy it ran under:
	// an audit bundle of it all verifies.
	ctx := context.Background()
	s, err := truceclient.Dial(ctx, w.pol, w.ids["rita"], truceclient.WithAddr(w.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := bundle.Export(ctx, s, w.ids["rita"], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.Verify(b, bundle.Options{Verifier: sim.NewVerifier(w.dev.Public())})
	if err != nil {
		t.Fatalf("bundle of the busy enclave: %v", err)
	}
	t.Logf("%d runs, %d audit entries, the change at entry %d", len(rep.Runs), len(rep.Entries), rep.Chain[1].Seq)
}
