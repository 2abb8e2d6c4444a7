package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/bundle"
	truceclient "github.com/truce-project/truce/client"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/receipt"
)

// TestAuditBundle exports audit bundles from a running enclave over the
// client SDK, as principals with different rights, and checks them
// offline: they verify, they hold every receipt their exporter may read,
// and altered copies are refused.
func TestAuditBundle(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	w.uploadShamir([]byte("bundled secret"))
	paula, rita := w.client("paula", true), w.client("rita", true)
	paula.put(pCopy, w.misWasm, http.StatusCreated)
	paula.put(pFail, w.misWasm, http.StatusCreated)
	rita.run(pShamir, http.StatusOK)
	rita.must(http.MethodPost, api.PathPipelines+"combine-copy", nil, http.StatusOK)
	rita.run(pFail, http.StatusUnprocessableEntity)
	rita.refused(http.MethodPost, api.PathRun+"program/loop.wasm", nil, http.StatusConflict, api.ProblemNotReady) // no receipt: never ran

	ctx := context.Background()
	v := sim.NewVerifier(w.dev.Public())
	for _, tc := range []struct {
		who      string
		receipts int
	}{{"rita", 3}, {"alice", 0}, {"bob", 0}} {
		t.Run(tc.who, func(t *testing.T) {
			s, err := truceclient.Dial(ctx, w.pol, w.ids[tc.who], truceclient.WithAddr(w.addr))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rs, err := s.Receipts(ctx)
			if err != nil || len(rs) != tc.receipts {
				t.Fatalf("GET /v1/receipts as %s: %d receipts, %v", tc.who, len(rs), err)
			}
			for i := range rs {
				if err := receipt.Verify(&rs[i], w.pol, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			b, err := bundle.Export(ctx, s, w.ids[tc.who], time.Now())
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
			rep, err := bundle.Verify(pb, bundle.Options{Verifier: v})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Runs) != 3 || len(b.Receipts) != tc.receipts || len(b.Withheld) != 3-tc.receipts {
				t.Fatalf("%d runs, %d receipts, %d withheld", len(rep.Runs), len(b.Receipts), len(b.Withheld))
			}
			if rep.Runs[1].Entry.Action != "pipeline" || rep.Runs[2].Entry.Outcome != api.ProblemProgramFailed || rep.Runs[0].Entry.Principal != "rita" {
				t.Fatalf("runs: %+v", rep.Runs)
			}
			// A dense sample of single altered bytes (each one a prime
			// stride apart, plus the head and tail) is refused.
			bad := bytes.Clone(data)
			n := 0
			for i := 0; i < len(bad); i++ {
				if i > 64 && i < len(bad)-256 && i%37 != 0 {
					continue
				}
				bad[i] ^= 0x20
				if checkBundle(bad, v) == nil {
					t.Errorf("byte %d altered went unnoticed", i)
				}
				bad[i] ^= 0x20
				n++
			}
			t.Logf("%d bytes, %d altered one at a time, all refused", len(data), n)
		})
	}

	// A later run shows in the next export.
	rita.run(pShamir, http.StatusOK)
	s, err := truceclient.Dial(ctx, w.pol, w.ids["rita"], truceclient.WithAddr(w.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := bundle.Export(ctx, s, w.ids["rita"], time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := bundle.Verify(b, bundle.Options{Verifier: v}); err != nil || len(rep.Runs) != 4 {
		t.Fatalf("after another run: %v", err)
	}
	// Without the device key the evidence does not check.
	other, _ := simprovider.NewDevice(nil)
	if _, err := bundle.Verify(b, bundle.Options{Verifier: sim.NewVerifier(other.Public())}); !errors.Is(err, bundle.ErrEnclave) {
		t.Fatalf("another device key: %v", err)
	}
}

// checkBundle parses and verifies a bundle file.
func checkBundle(data []byte, v attest.Verifier) error {
	b, err := bundle.Parse(data)
	if err != nil {
		return err
	}
	_, err = bundle.Verify(b, bundle.Options{Verifier: v})
	return err
}

// TestAuditBundleAfterSuccessor exports audit bundles from an enclave that
// changed policy: they hold the approved chain, verify offline, and each
// receipt is given or withheld under the policy its run was made under.
// alice may read the receipts of runs writing /output/ only under the
// successor, which gives her r on it.
func TestAuditBundleAfterSuccessor(t *testing.T) {
	w := newWorld(t, worldOptions{lifecycle: quorum2()})
	w.start()
	w.uploadShamir([]byte("bundled across policies"))
	paula, rita := w.client("paula", true), w.client("rita", true)
	paula.put(pFail, w.misWasm, http.StatusCreated)
	rita.run(pShamir, http.StatusOK)
	next := successor(t, w.pol, []string{"/"}, func(doc map[string]any) {
		for _, p := range doc["principals"].([]any) {
			if pr := p.(map[string]any); pr["name"] == "alice" {
				pr["capabilities"].(map[string]any)["/output/"] = "r"
			}
		}
	})
	rita.must(http.MethodPost, api.PathPolicySuccessor, w.propose(w.pol, next, "alice", "bob"), http.StatusOK)
	rita.run(pShamir, http.StatusOK)
	rita.run(pFail, http.StatusUnprocessableEntity)

	ctx := context.Background()
	v := sim.NewVerifier(w.dev.Public())
	for _, tc := range []struct {
		who      string
		withheld []int // runs withheld, by index
	}{{"rita", nil}, {"alice", []int{0}}} {
		t.Run(tc.who, func(t *testing.T) {
			// Dialled with the first policy: the session follows the chain.
			s, err := truceclient.Dial(ctx, w.pol, w.ids[tc.who], truceclient.WithAddr(w.addr))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			b, err := bundle.Export(ctx, s, w.ids[tc.who], time.Now())
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
			rep, err := bundle.Verify(pb, bundle.Options{Verifier: v})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Chain) != 2 || rep.Policy.Hash() != next.Hash() || rep.Chain[0].Policy.Hash() != w.pol.Hash() {
				t.Fatalf("chain %+v", rep.Chain)
			}
			var withheld, under []int
			for i, r := range rep.Runs {
				if r.Receipt == nil {
					withheld = append(withheld, i)
				}
				under = append(under, r.Policy)
			}
			if fmt.Sprint(withheld) != fmt.Sprint(tc.withheld) || fmt.Sprint(under) != "[0 1 1]" {
				t.Fatalf("runs withheld %v (want %v), under policies %v", withheld, tc.withheld, under)
			}
			if c := rep.Runs[1].Receipt; c == nil || len(c.PolicyChain) != 2 {
				t.Fatalf("receipt under the successor: %+v", c)
			}
		})
	}
}
