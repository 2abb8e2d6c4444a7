package runtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/audit"
	truceclient "github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	sss "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/receipt"
)

// TestWithClientSDK drives the runtime with the Go SDK the CLI uses, to
// hold the two sides of package api to the same contract.
func TestWithClientSDK(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	ctx := context.Background()
	dial := func(name string) *truceclient.Session {
		s, err := truceclient.Dial(ctx, w.pol, w.ids[name], truceclient.WithAddr(w.addr))
		if err != nil {
			t.Fatalf("%s dials: %v", name, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	paula, alice, bob, rita := dial("paula"), dial("alice"), dial("bob"), dial("rita")

	if _, err := paula.Put(ctx, pShamir, bytes.NewReader([]byte("wrong"))); !errors.Is(err, truceclient.ErrHashMismatch) {
		t.Fatalf("wrong program: %v", err)
	}
	if _, err := paula.Put(ctx, pShamir, bytes.NewReader(shamir.Wasm)); err != nil {
		t.Fatal(err)
	}
	if _, err := rita.Run(ctx, pNeeds); !errors.Is(err, truceclient.ErrNotReady) {
		t.Fatalf("run before upload: %v", err)
	}
	secret := []byte("sdk secret")
	shares, err := sss.Split(secret, 3, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range [][]byte{shares[0], shares[1]} {
		if _, err := alice.Put(ctx, fmt.Sprintf("/input/shamir-%d.dat", i), bytes.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.Put(ctx, "/input/shamir-2.dat", bytes.NewReader(shares[2])); !errors.Is(err, truceclient.ErrForbidden) {
		t.Fatalf("write without the right: %v", err)
	}
	if _, err := bob.Append(ctx, "/input/shamir-2.dat", bytes.NewReader(shares[2])); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Run(ctx, pShamir); !errors.Is(err, truceclient.ErrForbidden) {
		t.Fatalf("run without the right: %v", err)
	}
	rr, err := rita.Run(ctx, pShamir)
	if err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(&rr.Receipt, w.pol, time.Now()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := rita.Get(ctx, "/output/shamir.dat", &out); err != nil || !bytes.Equal(out.Bytes(), secret) {
		t.Fatalf("get: %q, %v", out.Bytes(), err)
	}
	if _, err := alice.Get(ctx, "/output/shamir.dat", &out); !errors.Is(err, truceclient.ErrForbidden) {
		t.Fatalf("read without the right: %v", err)
	}

	// A failed run comes back with its result and receipt.
	if _, err := paula.Put(ctx, pFail, bytes.NewReader(w.misWasm)); err != nil {
		t.Fatal(err)
	}
	rr, err = rita.Run(ctx, pFail)
	if !errors.Is(err, truceclient.ErrProgramFailed) || rr == nil || rr.ExitCode != 3 {
		t.Fatalf("failing run: %+v, %v", rr, err)
	}

	// Direct mode: the evidence the runtime serves verifies with the
	// device key and binds the enclave key, policy and nonce.
	claims, err := rita.VerifyEvidence(ctx, sim.NewVerifier(w.dev.Public()))
	if err != nil {
		t.Fatalf("evidence: %v", err)
	}
	if !bytes.Equal(claims.Measurement, testMeasurement) {
		t.Fatalf("measurement %x", claims.Measurement)
	}

	log, err := bob.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(log.Entries); err != nil {
		t.Fatal(err)
	}
	if err := rita.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if m := w.recv(); m.Type != "stopped" {
		t.Fatalf("after shutdown: %+v", m)
	}
}
