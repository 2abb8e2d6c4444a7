package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/bundle"
	"github.com/truce-project/truce/capability"
	truceclient "github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	sss "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// auditLog reads one page of the audit log as c.
func (c *client) auditLog(query string) api.AuditLog {
	c.t.Helper()
	var l api.AuditLog
	if err := json.Unmarshal(c.must(http.MethodGet, api.PathAudit+query, nil, http.StatusOK).body, &l); err != nil {
		c.t.Fatal(err)
	}
	return l
}

// TestAuditRevealsNoContent: neither the audit log nor a receipt, which
// every principal (or the runner) sees, holds the plain SHA-256 of a file
// anyone wrote or a run produced, so no one can test a guess of a short
// secret or of a held result against them; a read refused by a hold logs
// no commitment at all; writers and readers get the salt that opens the
// commitment naming their version.
func TestAuditRevealsNoContent(t *testing.T) {
	w := newWorld(t, worldOptions{holds: []policy.Hold{{Path: "/output/", ReleaseBy: []string{"alice"}}}})
	w.start()
	secret := []byte("yes")
	shares, err := sss.Split(secret, 3, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.client("paula", true).put(pShamir, shamir.Wasm, http.StatusCreated)
	alice := w.client("alice", true)
	fr := alice.put("/input/shamir-0.dat", shares[0], http.StatusCreated)
	if err := audit.Open(fr.Commitment, fr.Salt, bytes.NewReader(shares[0])); err != nil {
		t.Fatalf("the writer's salt does not open its commitment: %v", err)
	}
	// The same bytes again are a new version under a fresh salt: a writer
	// cannot tell whether it overwrote the same bytes.
	if again := alice.put("/input/shamir-0.dat", shares[0], http.StatusOK); again.Commitment == fr.Commitment || again.Salt == fr.Salt {
		t.Fatal("rewriting the same bytes kept the commitment")
	} else {
		fr = again
	}
	alice.put("/input/shamir-1.dat", shares[1], http.StatusCreated)
	w.client("bob", false).put("/input/shamir-2.dat", shares[2], http.StatusCreated)
	rita := w.client("rita", true)
	res := rita.run(pShamir, http.StatusOK)
	rita.refused(http.MethodGet, api.PathFiles+"output/shamir.dat", nil, http.StatusForbidden, api.ProblemHeld)

	plain := map[string]string{hexSum(secret): "the held result"}
	for i, s := range shares {
		plain[hexSum(s)] = fmt.Sprintf("share %d", i)
	}
	l := rita.auditLog("")
	heldRead := false
	for _, e := range l.Entries {
		for _, h := range e.Hashes {
			if what, ok := plain[h]; ok {
				t.Errorf("audit entry %d (%s %s) holds the plain SHA-256 of %s", e.Seq, e.Action, e.Path, what)
			}
		}
		if e.Action == "read" && e.Outcome == api.ProblemHeld {
			heldRead = true
			if len(e.Hashes) != 0 {
				t.Errorf("the read refused by the hold logs %v", e.Hashes)
			}
		}
	}
	if !heldRead {
		t.Fatal("the refused read is not in the log")
	}
	for _, f := range append(res.Receipt.Inputs, res.Receipt.Outputs...) {
		if what, ok := plain[f.Commitment]; ok {
			t.Errorf("the receipt names %s by %s's plain SHA-256", f.Path, what)
		}
	}
	// alice checks the receipt names her version with the salt she got.
	if err := receipt.Open(&res.Receipt, true, "/input/shamir-0.dat", fr.Salt, bytes.NewReader(shares[0])); err != nil {
		t.Fatalf("alice cannot check the receipt names her input: %v", err)
	}
	if err := receipt.Open(&res.Receipt, true, "/input/shamir-0.dat", fr.Salt, bytes.NewReader(shares[1])); err == nil {
		t.Fatal("the receipt opened to other bytes")
	}
	// Once released, the reader gets the salt, and the commitment the
	// receipt names opens to what it read.
	alice.must(http.MethodPost, api.PathRelease+"output/shamir.dat", nil, http.StatusOK)
	got := rita.get("/output/shamir.dat")
	if err := receipt.Open(&res.Receipt, false, "/output/shamir.dat", rita.salt("/output/shamir.dat"), bytes.NewReader(got)); err != nil {
		t.Fatalf("the reader cannot check the receipt names what it read: %v", err)
	}
}

// TestTouchesHeld: a program that may only read a held path (no write
// right on it) still gets its stdout and stderr withheld from the run
// result: it could print the held file to whoever ran it.
func TestTouchesHeld(t *testing.T) {
	w := newWorld(t, worldOptions{holds: []policy.Hold{{Path: "/output/held/", ReleaseBy: []string{"alice"}}}})
	for _, tc := range []struct {
		name string
		caps capability.Set
		held bool
	}{
		{"reads a held file", capability.Set{"/output/held/r.dat": capability.Read}, true},
		{"reads above a hold", capability.Set{"/output/": capability.Read}, true},
		{"writes a held file", capability.Set{"/output/held/": capability.Write}, true},
		{"reads elsewhere", capability.Set{"/input/": capability.Read, "/output/free/": capability.Write}, false},
		{"no rights", capability.Set{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &Runtime{pol: w.pol}
			if got := rt.touchesHeld(tc.caps); got != tc.held {
				t.Fatalf("touchesHeld(%v) = %v, want %v", tc.caps, got, tc.held)
			}
		})
	}
}

// TestAuditBoundAndPaged: under a small audit budget, thousands of
// requests and runs keep the log and its receipts within the budget; the
// oldest entries are folded away, and the SDK reads the rest page by page
// into a log its checkpoint verifies, chained to what was folded.
func TestAuditBoundAndPaged(t *testing.T) {
	const budget = 768 << 10
	w := newWorld(t, worldOptions{auditBytes: budget})
	w.start()
	w.uploadShamir([]byte("bounded"))
	rita := w.client("rita", true)
	for i := 0; i < 40; i++ {
		rita.run(pShamir, http.StatusOK)
	}
	for i := 0; i < 2500; i++ {
		rita.must(http.MethodGet, api.PathPolicy, nil, http.StatusOK)
	}
	st := w.rt.audit.Stats()
	kept := w.rt.receipts.count()
	t.Logf("audit log after %d entries: %d held from entry %d, %d bytes of a %d budget, %d receipts kept", st.Total, st.Total-st.From, st.From, st.Bytes, st.Budget, kept)
	if st.Bytes > budget || st.From == 0 {
		t.Fatalf("the log holds %d bytes from entry %d under a budget of %d", st.Bytes, st.From, budget)
	}
	if kept != 0 {
		t.Fatalf("%d receipts of folded runs are still kept", kept)
	}

	// A page is at most its limit; bad paging parameters are refused.
	if l := rita.auditLog("?limit=7&after=" + fmt.Sprint(st.From+3)); len(l.Entries) != 7 || l.Entries[0].Seq != st.From+4 || l.Checkpoint.Size != st.From+11 {
		t.Fatalf("page: %d entries, checkpoint %+v", len(l.Entries), l.Checkpoint)
	}
	if l := rita.auditLog(""); len(l.Entries) > audit.MaxPage {
		t.Fatalf("a page of %d entries", len(l.Entries))
	}
	for _, q := range []string{"?after=-1", "?after=x", "?limit=-2", "?limit=1e9"} {
		rita.refused(http.MethodGet, api.PathAudit+q, nil, http.StatusBadRequest, api.ProblemBadRequest)
	}

	s, err := truceclient.Dial(context.Background(), w.pol, w.ids["alice"], truceclient.WithAddr(w.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cp := l.Checkpoint
	if err := audit.VerifyCheckpoint(cp, w.rt.PublicKey(), l.Entries); err != nil {
		t.Fatalf("the paged log does not verify: %v", err)
	}
	if cp.From == 0 || len(l.Entries) <= audit.MaxPage || cp.BasePolicy != w.pol.HashHex() {
		t.Fatalf("paged log: %d entries, checkpoint %+v", len(l.Entries), cp)
	}

	// Runs after the fold: a bundle of the folded log verifies, with
	// their receipts.
	for i := 0; i < 3; i++ {
		rita.run(pShamir, http.StatusOK)
	}
	b, err := bundle.Export(context.Background(), s, w.ids["alice"], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	data, err := bundle.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := bundle.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bundle.Verify(pb, bundle.Options{Verifier: sim.NewVerifier(w.dev.Public())})
	if err != nil {
		t.Fatalf("the bundle of a folded log: %v", err)
	}
	if rep.Checkpoint.From == 0 || len(rep.Runs) != 3 {
		t.Fatalf("bundle from entry %d with %d runs", rep.Checkpoint.From, len(rep.Runs))
	}
}

// FuzzAuditQuery: the paging parameters of GET /v1/audit, from any
// principal, are parsed or refused as a bad request, never a panic, and
// an accepted limit is never negative.
func FuzzAuditQuery(f *testing.F) {
	for _, q := range []string{"", "after=3&limit=10", "after=-1", "limit=1e9", "after=18446744073709551615", "limit=%00"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req, err := http.NewRequest(http.MethodGet, "https://x"+api.PathAudit+"?"+q, nil)
		if err != nil {
			return
		}
		after, limit, err := auditQuery(req)
		if err != nil {
			var p *problem
			if !errors.As(err, &p) || p.status != http.StatusBadRequest {
				t.Fatalf("auditQuery(%q) = %v", q, err)
			}
			return
		}
		if after < -1 || limit < 0 {
			t.Fatalf("auditQuery(%q) = %d, %d", q, after, limit)
		}
	})
}
