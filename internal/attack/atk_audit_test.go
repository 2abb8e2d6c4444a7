package attack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
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
// in its receipt. dave, who may not read the copy while it is held, runs a
// pinned program that exits with its first three bytes and reads them in
// the answer: 24 bits a run, the whole held result in a few runs (a
// program's Message and its outcome, trap or exit, carry more).
//
// Open (issue 17): a fix must withhold from the result, and from the
// receipt while the hold lasts, all that such a program chooses: report
// its exit code only as success or failure (0 or 1) and no message, and
// say so in the receipt (signed, so verifiers know the code was folded).
func TestAttackHeldFileViaExitCode(t *testing.T) {
	if os.Getenv("TRUCE_ATTACK_OPEN") == "" {
		t.Skip("issue 17: a program that may read a held path returns its exit code to whoever runs it, not yet fixed (TRUCE_ATTACK_OPEN=1 runs it)")
	}
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
}
