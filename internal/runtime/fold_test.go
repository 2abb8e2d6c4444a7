package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// TestFoldsResult: a run's result is folded when its program may write a
// held path, or read a held file whose version is not released by every
// holder; not when every held file it may read is released at the version
// it reads, nor when it touches no hold.
func TestFoldsResult(t *testing.T) {
	w := newWorld(t, worldOptions{holds: []policy.Hold{{Path: "/output/held/", ReleaseBy: []string{"alice", "bob"}}}})
	held := []receipt.FileHash{{Path: "/output/held/r.dat", Commitment: "c1"}}
	for _, tc := range []struct {
		name     string
		caps     capability.Set
		inputs   []receipt.FileHash
		released map[string]*releases
		fold     bool
	}{
		{"writes a held path", capability.Set{"/output/held/": capability.Write}, nil, nil, true},
		{"writes above a hold", capability.Set{"/output/": capability.Write}, nil, nil, true},
		{"reads a held file no one released", capability.Set{"/output/held/": capability.Read}, held, nil, true},
		{"reads a held file one holder of two released",
			capability.Set{"/output/held/": capability.Read}, held,
			map[string]*releases{"/output/held/r.dat": {commit: "c1", by: map[string]bool{"alice": true}}}, true},
		{"reads a held file released at another version",
			capability.Set{"/output/held/": capability.Read}, held,
			map[string]*releases{"/output/held/r.dat": {commit: "c0", by: map[string]bool{"alice": true, "bob": true}}}, true},
		{"reads a held file released at its version",
			capability.Set{"/output/held/": capability.Read}, held,
			map[string]*releases{"/output/held/r.dat": {commit: "c1", by: map[string]bool{"alice": true, "bob": true}}}, false},
		{"may read a held path where no file is", capability.Set{"/output/held/": capability.Read}, nil, nil, false},
		{"reads elsewhere", capability.Set{"/input/": capability.Read, "/output/free/": capability.Write},
			[]receipt.FileHash{{Path: "/input/a", Commitment: "c2"}}, nil, false},
		{"no rights", capability.Set{}, nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := tc.released
			if rel == nil {
				rel = map[string]*releases{}
			}
			rt := &Runtime{pol: w.pol, releases: rel}
			if got := rt.foldsResult(tc.caps, tc.inputs); got != tc.fold {
				t.Fatalf("foldsResult(%v, %v) = %v, want %v", tc.caps, tc.inputs, got, tc.fold)
			}
		})
	}
}

// TestFold: a folded result says only exited 0 or failed 1, with no
// message, whatever the way the program ended.
func TestFold(t *testing.T) {
	if engine.Exited.String() != receipt.OutcomeExited {
		t.Fatalf("the engine's exited is %q, the receipt's %q", engine.Exited.String(), receipt.OutcomeExited)
	}
	for _, tc := range []struct {
		outcome string
		code    uint32
		msg     string
		ok      bool
	}{
		{engine.Exited.String(), 0, "", true},
		{engine.Exited.String(), 0x736579, "", false},
		{engine.Exited.String(), 1, "", false},
		{engine.Trapped.String(), 0, "panic: yes, the held result", false},
		{engine.TimedOut.String(), 0, "the program ran longer than its limit of 1s", false},
		{engine.MemoryExceeded.String(), 0, "over", false},
		{engine.OutputExceeded.String(), 0, "", false},
		{engine.Cancelled.String(), 0, "cancelled", false},
		{"error", 1, "instantiating: boom", false},
	} {
		out := &api.RunResult{Outcome: tc.outcome, ExitCode: tc.code, Message: tc.msg}
		fold(out)
		want := api.RunResult{Outcome: receipt.OutcomeFailed, ExitCode: 1}
		if tc.ok {
			want = api.RunResult{Outcome: receipt.OutcomeExited, ExitCode: 0}
		}
		if out.Outcome != want.Outcome || out.ExitCode != want.ExitCode || out.Message != "" {
			t.Errorf("fold(%s, %d, %q) = %s, %d, %q; want %s, %d and no message", tc.outcome, tc.code, tc.msg, out.Outcome, out.ExitCode, out.Message, want.Outcome, want.ExitCode)
		}
	}
}

// mustBeFolded fails t unless res and its receipt say only success or
// failure (as ok), the receipt says folded and verifies, and nothing of
// the program's own ending (its exit code, message, stdout, stderr) is
// in res or in detail.
func mustBeFolded(t *testing.T, w *world, res *api.RunResult, rc *receipt.Receipt, ok bool, detail string) {
	t.Helper()
	code, outcome := uint32(1), receipt.OutcomeFailed
	if ok {
		code, outcome = 0, receipt.OutcomeExited
	}
	if res.ExitCode != code || res.Outcome != outcome || res.Message != "" || len(res.Stdout) != 0 || len(res.Stderr) != 0 {
		t.Errorf("%s: result %s, code %d, message %q, stdout %q, stderr %q; want only %s, %d", res.Program, res.Outcome, res.ExitCode, res.Message, res.Stdout, res.Stderr, outcome, code)
	}
	if !rc.Folded || rc.ExitCode != code || rc.Outcome != outcome {
		t.Errorf("%s: receipt folded %v, %s, code %d; want folded, %s, %d", rc.Program, rc.Folded, rc.Outcome, rc.ExitCode, outcome, code)
	}
	if err := receipt.Verify(rc, w.pol, time.Now()); err != nil {
		t.Errorf("%s: folded receipt: %v", rc.Program, err)
	}
	for _, leak := range []string{"code 3", "failing on purpose", "ok "} {
		if strings.Contains(detail, leak) {
			t.Errorf("%s: the answer's detail %q tells %q", res.Program, detail, leak)
		}
	}
}

// TestFoldHeldWriter: a program that may write a held path (pFail, which
// exits 3 after printing to stderr) reports only failure, in its result,
// its problem and its signed receipt, which says folded.
func TestFoldHeldWriter(t *testing.T) {
	w := newWorld(t, worldOptions{holds: []policy.Hold{{Path: "/output/", ReleaseBy: []string{"alice"}}}})
	w.start()
	w.client("paula", true).put(pFail, w.misWasm, http.StatusCreated)
	rita := w.client("rita", true)
	p := rita.refused(http.MethodPost, api.PathRun+strings.TrimPrefix(pFail, "/"), nil, http.StatusUnprocessableEntity, api.ProblemProgramFailed)
	if p.Result == nil {
		t.Fatalf("no result in %+v", p)
	}
	mustBeFolded(t, w, p.Result, &p.Result.Receipt, false, p.Detail)
	if !strings.Contains(p.Detail, "withheld") {
		t.Errorf("the detail %q does not say how the run ended is withheld", p.Detail)
	}
	// Signed by the enclave, a folded receipt carrying the program's
	// exit code does not verify.
	key, err := w.rt.signer()
	if err != nil {
		t.Fatal(err)
	}
	rc := p.Result.Receipt
	rc.ExitCode, rc.Outcome = 3, engine.Exited.String()
	if err := receipt.Sign(&rc, key); err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(&rc, w.pol, time.Now()); !errors.Is(err, receipt.ErrFolded) {
		t.Fatalf("a folded receipt with exit code 3 verifies: %v", err)
	}
}

// TestFoldFollowsHeldInput: a hold on an input (alice's share) folds the
// result of a run reading it until every holder released that version,
// and folds every later step of a pipeline, which may read what the
// folded step wrote, though the later step touches no hold itself. The
// same step run alone, reading no held file, is not folded.
func TestFoldFollowsHeldInput(t *testing.T) {
	w := newWorld(t, worldOptions{holds: []policy.Hold{{Path: "/input/shamir-0.dat", ReleaseBy: []string{"alice"}}}})
	w.start()
	w.uploadShamir([]byte("held share"))
	paula := w.client("paula", true)
	paula.put(pFail, w.misWasm, http.StatusCreated)
	paula.put(pCopy, w.misWasm, http.StatusCreated)
	rita := w.client("rita", true)

	res := rita.run(pShamir, http.StatusOK)
	mustBeFolded(t, w, res, &res.Receipt, true, "")

	// combine-copy: shamir reads the held share, copy only what shamir
	// wrote; copy prints "ok copy", withheld as its result is folded.
	var pr api.PipelineResult
	if err := json.Unmarshal(rita.must(http.MethodPost, api.PathPipelines+"combine-copy", nil, http.StatusOK).body, &pr); err != nil {
		t.Fatal(err)
	}
	if len(pr.Steps) != 2 {
		t.Fatalf("pipeline ran %d steps", len(pr.Steps))
	}
	for i := range pr.Steps {
		mustBeFolded(t, w, &pr.Steps[i], &pr.Steps[i].Receipt, true, "")
	}
	if !pr.Receipt.Folded || pr.Receipt.ExitCode != 0 || pr.Receipt.Outcome != receipt.OutcomeExited {
		t.Errorf("pipeline receipt folded %v, %s, %d", pr.Receipt.Folded, pr.Receipt.Outcome, pr.Receipt.ExitCode)
	}
	if err := receipt.Verify(&pr.Receipt, w.pol, time.Now()); err != nil {
		t.Fatal(err)
	}

	// combine-fail: fail exits 3 after the folded step: failure only.
	p := rita.refused(http.MethodPost, api.PathPipelines+"combine-fail", nil, http.StatusUnprocessableEntity, api.ProblemProgramFailed)
	if p.Pipeline == nil || len(p.Pipeline.Steps) != 2 || p.Result == nil {
		t.Fatalf("failed pipeline problem = %+v", p)
	}
	mustBeFolded(t, w, p.Result, &p.Pipeline.Receipt, false, p.Detail)

	// Alone, copy reads no held file: its result is its own.
	res = rita.run(pCopy, http.StatusOK)
	if res.Receipt.Folded || !bytes.Contains(res.Stdout, []byte("ok copy")) {
		t.Errorf("copy, touching no hold, was folded (%v) or lost its stdout %q", res.Receipt.Folded, res.Stdout)
	}
	p = rita.refused(http.MethodPost, api.PathRun+strings.TrimPrefix(pFail, "/"), nil, http.StatusUnprocessableEntity, api.ProblemProgramFailed)
	if p.Result == nil || p.Result.ExitCode != 3 || p.Result.Receipt.Folded {
		t.Errorf("fail, touching no hold, = %+v", p.Result)
	}

	// Released at the version shamir reads, the share folds nothing.
	w.client("alice", true).must(http.MethodPost, api.PathRelease+"input/shamir-0.dat", nil, http.StatusOK)
	res = rita.run(pShamir, http.StatusOK)
	if res.Receipt.Folded {
		t.Error("a run reading only released held files was folded")
	}
	// A new version of the share is held again.
	w.putShares([]byte("held share"), http.StatusOK)
	res = rita.run(pShamir, http.StatusOK)
	if !res.Receipt.Folded {
		t.Error("a run reading a new, unreleased version of a held file was not folded")
	}
}
