package attack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// pExitCode exits with bytes of the held /output/copy.dat as its exit
// code: it may read it, not write it.
const pExitCode = "/program/exitcode.wasm"

// exitCodeWorld is the suite's world with every output held until alice
// releases it, and pExitCode, uploaded, a program with only a read right
// on the held copy.
func exitCodeWorld(t *testing.T) *world {
	t.Helper()
	sum := sha256.Sum256(hostile(t))
	w := startWorld(t, worldOptions{name: "exitcode", tweak: func(doc map[string]any) {
		doc["holds"] = []any{map[string]any{"path": "/output/", "release_by": []string{"alice"}}}
		doc["programs"] = append(doc["programs"].([]any), map[string]any{"path": pExitCode, "sha256": hex.EncodeToString(sum[:]),
			"capabilities": map[string]string{"/output/copy.dat": "r"}})
	}})
	w.uploadPrograms(t)
	if _, err := w.dial(t, "oscar").Put(context.Background(), pExitCode, bytes.NewReader(hostile(t))); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestAttackReceiptOfReadOnlyProgram: a principal may read the receipts
// of a program if it may read every file the program may write; for a
// program that may write nothing, that held for everyone, so mallory, who
// may read nothing and run nothing, got the receipts of dave's runs of
// pExitCode, a program reading the held copy: its exit code, outcome and
// times, all the program's choice (TestAttackHeldFileViaExitCode: the
// held result itself). Now a program without outputs gives its receipts
// only to those who may run it.
func TestAttackReceiptOfReadOnlyProgram(t *testing.T) {
	w := exitCodeWorld(t)
	ctx := context.Background()
	w.put(t, "alice", "/input/alice.dat", []byte("yes, the held result"))
	dave := w.dial(t, "dave")
	if _, err := dave.Run(ctx, pCopy); err != nil {
		t.Fatal(err)
	}
	if res, err := dave.Run(ctx, pExitCode); res == nil {
		t.Fatal(err)
	}
	rcs, err := w.dial(t, "mallory").Receipts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		t.Errorf("mallory, who may read and run nothing, reads the receipt of %s (exit code %d, outcome %s)", rc.Program, rc.ExitCode, rc.Outcome)
	}
	if rcs, err := dave.Receipts(ctx); err != nil || len(rcs) != 2 {
		t.Errorf("dave, who ran both, reads %d receipts (%v)", len(rcs), err)
	}
}

// TestAttackHeldFileViaExitCode: the program's stdout and stderr are
// withheld from whoever runs a program that may read a held path
// (TestHeldFileViaStdout), but not its exit code, in the run's result and
// in its receipt. dave, who may not read the copy while it is held, ran a
// pinned program that exits with its first three bytes and read them in
// the answer: 24 bits a run, the whole held result in a few runs (a
// program's Message and its outcome, trap or exit, carry more).
//
// Fixed (issue 17): the result of a run that may read a held file not
// yet released, or write a held path, is folded: exit code 0 or 1,
// outcome exited or failed, no message, in the result and in the receipt,
// which says folded (signed, so verifiers know the code was folded).
func TestAttackHeldFileViaExitCode(t *testing.T) {
	w := exitCodeWorld(t)
	ctx := context.Background()
	const secret = "yes, the held result"
	w.put(t, "alice", "/input/alice.dat", []byte(secret))
	dave := w.dial(t, "dave")
	if _, err := dave.Run(ctx, pCopy); err != nil {
		t.Fatal(err)
	}
	res, err := dave.Run(ctx, pExitCode)
	if res == nil {
		t.Fatal(err)
	}
	code := res.ExitCode
	got := string([]byte{byte(code), byte(code >> 8), byte(code >> 16)})
	if got == secret[:3] {
		t.Errorf("dave reads %q of the held result in the exit code of the run (result %d, receipt %d)", got, res.ExitCode, res.Receipt.ExitCode)
	}
	if res.ExitCode > 1 || res.Receipt.ExitCode > 1 || res.Message != "" {
		t.Errorf("dave reads more than success or failure: exit code %d (receipt %d), message %q", res.ExitCode, res.Receipt.ExitCode, res.Message)
	}
	if o := res.Receipt.Outcome; o != "exited" && o != "failed" || res.Outcome != o {
		t.Errorf("dave reads the outcome %q (receipt %q), not only exited or failed", res.Outcome, o)
	}
	if !res.Receipt.Folded {
		t.Error("the receipt does not say its exit code and outcome were folded")
	}
	rcs, err := dave.Receipts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		if rc.ExitCode > 1 || !rc.Folded {
			t.Errorf("the kept receipt of %s: exit code %d, folded %v", rc.Program, rc.ExitCode, rc.Folded)
		}
	}
}
