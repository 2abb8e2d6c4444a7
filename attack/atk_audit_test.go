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
	sum := sha256.Sum256(hostile(t))
	w := startWorld(t, worldOptions{name: "exitcode", tweak: func(doc map[string]any) {
		doc["holds"] = []any{map[string]any{"path": "/output/", "release_by": []string{"alice"}}}
		doc["programs"] = append(doc["programs"].([]any), map[string]any{"path": pExitCode, "sha256": hex.EncodeToString(sum[:]),
			"capabilities": map[string]string{"/output/copy.dat": "r"}})
	}})
	w.uploadPrograms(t)
	ctx := context.Background()
	if _, err := w.dial(t, "oscar").Put(ctx, pExitCode, bytes.NewReader(hostile(t))); err != nil {
		t.Fatal(err)
	}
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
