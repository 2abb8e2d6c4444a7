package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/internal/wasi"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// takePrograms takes the queues of the programs at paths for rq, in
// sorted order, and returns the function that lets go of them. A run that
// must wait lets go of runGate meanwhile, so that a change of policy waits
// only for the runs in progress, never for the queue; it takes runGate
// again before it returns and, if a successor took effect meanwhile,
// refuses the run. A wait ends with the request.
func (r *Runtime) takePrograms(rq *request, paths []string) (func(), error) {
	paths = append([]string(nil), paths...)
	sort.Strings(paths)
	var taken []*progQueue
	release := func() {
		for i := len(taken) - 1; i >= 0; i-- {
			taken[i].release()
		}
	}
	pol, waited := r.pol, false
	var err error
	for _, p := range paths {
		q := r.progQs.of(p)
		if q.tryAcquire() {
			taken = append(taken, q)
			continue
		}
		if !waited && rq.held == heldRun {
			r.unlock(rq)
			waited = true
		}
		if err = q.acquire(rq.req.Context(), rq.pr.Name); err != nil {
			break
		}
		taken = append(taken, q)
	}
	if waited {
		r.lock(rq, heldRun)
	}
	switch {
	case err != nil:
		release()
		return nil, newProblem(http.StatusServiceUnavailable, api.ProblemNotReady,
			"the request ended while waiting for other runs of %s to finish: nothing ran; try again", strings.Join(paths, ", "))
	case r.pol != pol:
		release()
		return nil, newProblem(http.StatusConflict, api.ProblemConflict,
			"a successor policy took effect while the run of %s waited for other runs: nothing ran; check the enclave's current policy (truce policy show, GET /v1/policy) and ask again", strings.Join(paths, ", "))
	}
	return release, nil
}

func (r *Runtime) handleRun(rq *request) error {
	gp := rq.path
	prog := r.pol.Program(gp)
	if !r.pol.PrincipalAllows(rq.pr.Name, gp, capability.Execute) {
		return newProblem(http.StatusForbidden, api.ProblemForbidden, "%s may not run %s: the policy grants no \"x\" right there", rq.pr.Name, gp)
	}
	if prog == nil {
		return newProblem(http.StatusNotFound, api.ProblemNotFound, "the policy lists no program at %s", gp)
	}
	done, err := r.runs.take(rq.pr.Name)
	if err != nil {
		rq.w.Header().Set("Retry-After", "1")
		return err
	}
	defer done()
	release, err := r.takePrograms(rq, []string{gp})
	if err != nil {
		return err
	}
	defer release()
	res, err := r.runProgram(rq.req.Context(), prog, map[budgetKey]bool{}, nil, false)
	if err != nil {
		return err
	}
	rq.hashes = []string{res.Receipt.ProgramHash, r.keepReceipt(rq, &res.Receipt)}
	if !succeeded(res) {
		return &problem{status: http.StatusUnprocessableEntity, name: api.ProblemProgramFailed,
			detail: failureDetail(res), result: res}
	}
	writeJSON(rq.w, http.StatusOK, res)
	return nil
}

func succeeded(res *api.RunResult) bool {
	return res.Outcome == engine.Exited.String() && res.ExitCode == 0
}

func failureDetail(res *api.RunResult) string {
	if res.Receipt.Folded {
		return fmt.Sprintf("%s failed; how it ended is withheld, as it may read or write a held path not yet released (its receipt says folded)", res.Program)
	}
	d := fmt.Sprintf("%s ended %s", res.Program, res.Outcome)
	if res.Outcome == engine.Exited.String() {
		d = fmt.Sprintf("%s exited with code %d", res.Program, res.ExitCode)
	}
	if res.Message != "" {
		d += ": " + res.Message
	}
	return d
}

// keepReceipt remembers a receipt the runtime signed, for GET
// /v1/receipts, and returns its hex digest, which the run's audit entry
// names. It is called before the audit entry is appended, so every receipt
// an audit entry names is kept; it charges the receipt's size to the
// entry (rq.extra), and the receipt is forgotten when the entry is folded
// away (forgetReceipts).
func (r *Runtime) keepReceipt(rq *request, rc *receipt.Receipt) string {
	d, err := receipt.Digest(rc)
	if err != nil {
		return ""
	}
	digest := hex.EncodeToString(d[:])
	rq.extra = receiptCost(rc)
	r.receipts.keep(digest, rc)
	return digest
}

// receiptCost estimates the bytes a kept receipt takes and, as the size
// of its JSON, adds to an answer listing it.
func receiptCost(rc *receipt.Receipt) int64 {
	n := 1024 + len(rc.Signature) + len(rc.Program)
	for _, c := range rc.Chain {
		n += len(c) * 4 / 3
	}
	for _, fs := range [][]receipt.FileHash{rc.Inputs, rc.Outputs} {
		for _, f := range fs {
			n += 96 + len(f.Path) + len(f.Commitment)
		}
	}
	for _, u := range rc.Budgets {
		n += 64 + len(u.Principal) + len(u.Path)
	}
	for _, h := range rc.PolicyChain {
		n += 4 + len(h)
	}
	return int64(n)
}

// forgetReceipts drops the receipts that folded audit entries name: the
// audit log's OnFold.
func (r *Runtime) forgetReceipts(folded []audit.Entry) {
	var digests []string
	for i := range folded {
		if e := &folded[i]; (e.Action == "run" || e.Action == "pipeline") && len(e.Hashes) == 2 {
			digests = append(digests, e.Hashes[1])
		}
	}
	r.receipts.forget(digests)
}

// keptReceipts returns the receipts that the entries name (runs and
// pipelines: the second hash) and that principal may read, in entry order.
// Whether it may read one is decided by the policy the run was made under
// (the receipt's policy hash), not the current one: a successor neither
// opens earlier receipts to principals that could not read them, nor
// closes them to those who could (docs/spec/bundle.md). The
// caller holds polMu.
func (r *Runtime) keptReceipts(entries []audit.Entry, principal string) []receipt.Receipt {
	out := []receipt.Receipt{}
	for _, e := range entries {
		if (e.Action != "run" && e.Action != "pipeline") || len(e.Hashes) != 2 {
			continue
		}
		rc, ok := r.receipts.get(e.Hashes[1])
		if !ok {
			continue
		}
		if pol := r.pols[rc.PolicyHash]; pol != nil && pol.MayReadReceipt(principal, rc.Program) {
			out = append(out, rc)
		}
	}
	return out
}

// loadProgram reads a program's bytes and checks them against the pin.
func (r *Runtime) loadProgram(prog *policy.Program) ([]byte, error) {
	s, err := r.admin.Open(prog.Path)
	if err != nil {
		if isNotExist(err) {
			return nil, newProblem(http.StatusConflict, api.ProblemNotReady, "program %s has not been uploaded yet: its owner must write it first", prog.Path)
		}
		return nil, fsProblem(err, "the runtime", prog.Path)
	}
	defer s.Close()
	b, err := io.ReadAll(io.NewSectionReader(s, 0, s.Size()))
	if err != nil {
		return nil, fmt.Errorf("reading program %s: %w", prog.Path, err)
	}
	if sha256.Sum256(b) != prog.Hash() {
		return nil, newProblem(http.StatusConflict, api.ProblemHashMismatch, "the stored %s does not match the hash the policy pins: upload it again", prog.Path)
	}
	return b, nil
}

// missingInputs lists the program's inputs that are not yet in the file
// system admin looks at, so that readiness does not depend on how its
// grant is spelled: each file it may read named one by one, and, under
// each directory it may read, each file a principal may write there named
// one by one, and each directory a principal may write there that holds
// no file yet. (A program granted "/input/" needs the files of
// "/input/alice.dat" and "/input/bob/" as one granted both.)
func (r *Runtime) missingInputs(prog *policy.Program, admin *vfs.View) []string {
	var missing []string
	for _, g := range prog.Capabilities.Paths() {
		if !prog.Capabilities[g].Has(capability.Read) {
			continue
		}
		if !strings.HasSuffix(g, "/") {
			if _, err := admin.Stat(g); err != nil {
				missing = append(missing, g)
			}
			continue
		}
		for _, in := range r.writtenUnder(g) {
			if !present(admin, in) {
				missing = append(missing, in)
			}
		}
	}
	sort.Strings(missing)
	return slices.Compact(missing)
}

// writtenUnder lists the grant paths under directory d (d included) that
// some principal may write or append to: the inputs a program reading d
// waits for.
func (r *Runtime) writtenUnder(d string) []string {
	var out []string
	for _, pr := range r.pol.Principals {
		for g, rights := range pr.Capabilities {
			if (rights.Has(capability.Write) || rights.Has(capability.Append)) && capability.Covers(d, g) {
				out = append(out, g)
			}
		}
	}
	return out
}

// present reports whether the input at grant path g is there: the file,
// or, for a directory, some file under it (vfs.FS.HasFile walks the
// subtree once: resolving each directory of a deep tree again from the
// root would cost the tree's depth squared, and a program may make such a
// tree). admin sees every file.
func present(admin *vfs.View, g string) bool {
	if !strings.HasSuffix(g, "/") {
		_, err := admin.Stat(g)
		return err == nil
	}
	return admin.FS().HasFile(g)
}

// makeDirs makes the directories the program's grants name (a directory
// grant itself, or the directory holding a file grant), so that a program
// may create its outputs there without making directories first.
func (r *Runtime) makeDirs(prog *policy.Program) error {
	for _, g := range prog.Capabilities.Paths() {
		d := strings.TrimSuffix(g, "/")
		if !strings.HasSuffix(g, "/") {
			d = path.Dir(g)
		}
		if d == "" || d == "/" {
			continue
		}
		if err := r.admin.MkdirAll(d); err != nil {
			if errors.Is(err, vfs.ErrNotDir) || errors.Is(err, vfs.ErrExist) {
				return newProblem(http.StatusConflict, api.ProblemConflict, "%s cannot run: %s must be a directory, but a file is there", prog.Path, d)
			}
			return fmt.Errorf("making %s for %s: %w", d, prog.Path, err)
		}
	}
	return nil
}

func isNotExist(err error) bool { return err != nil && errors.Is(err, vfs.ErrNotExist) }

// filesWith returns the commitments of every file the capability set
// gives want on, sorted by path.
func (r *Runtime) filesWith(caps capability.Set, want capability.Rights) []receipt.FileHash {
	return r.filesIn(r.fs, caps, want)
}

// filesIn returns the commitments of every file of fsys (the enclave's
// file system or a run's overlay) the capability set gives want on,
// sorted by path.
func (r *Runtime) filesIn(fsys *vfs.FS, caps capability.Set, want capability.Rights) []receipt.FileHash {
	return r.filesSince(fsys, caps, want, nil)
}

// stamps returns what tells, after a run, whether it rewrote a file of
// fsys the capability set gives want on: each file's times, inode and
// size, by path.
func stamps(fsys *vfs.FS, caps capability.Set, want capability.Rights) map[string]vfs.Info {
	out := map[string]vfs.Info{}
	for _, info := range fsys.Files() {
		if caps.Rights(info.Path).Has(want) {
			out[info.Path] = info
		}
	}
	return out
}

// rewritten reports whether a file is no longer the one stamped before:
// created, or its content or metadata changed (a write of the very bytes
// that were there still sets its times).
func rewritten(before map[string]vfs.Info, now vfs.Info) bool {
	b, ok := before[now.Path]
	return !ok || b.Inode != now.Inode || b.Size != now.Size ||
		!b.ModTime.Equal(now.ModTime) || !b.ChangeTime.Equal(now.ChangeTime)
}

// filesSince returns the commitments as filesIn does, but when before is
// not nil (the stamps taken before a run), every file the run rewrote is
// a new version under a fresh salt, even if it holds the bytes that were
// there: as for a principal's write, the commitment of a run's output
// must not repeat when a later run writes the same result, or whoever
// sees the commitments (the audit log, receipts) would learn that the
// result did not change, from inputs that did.
func (r *Runtime) filesSince(fsys *vfs.FS, caps capability.Set, want capability.Rights, before map[string]vfs.Info) []receipt.FileHash {
	out := []receipt.FileHash{}
	admin := fsys.Unchecked()
	for _, info := range fsys.Files() {
		if !caps.Rights(info.Path).Has(want) {
			continue
		}
		var o opened
		var err error
		if before != nil && rewritten(before, info) {
			o, err = r.commitFresh(admin, info.Path)
		} else {
			o, err = r.openIn(admin, info.Path)
		}
		if err != nil {
			continue // removed since listed
		}
		out = append(out, receipt.FileHash{Path: info.Path, Commitment: o.commit})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// newOverlay copies the files caps may name for a run, or says why the
// run cannot start.
func (r *Runtime) newOverlay(what string, caps capability.Set) (*vfs.Overlay, error) {
	ov, err := r.fs.Overlay(caps)
	if err != nil {
		if errors.Is(err, vfs.ErrQuota) {
			// Not the bytes the file system would hold: they are everyone's.
			return nil, newProblem(http.StatusRequestEntityTooLarge, api.ProblemLimitExceeded, "%s cannot run: copying the files it may see would take the file system past its limit of %d bytes: nothing ran", what, r.pol.Limits.Total())
		}
		return nil, fmt.Errorf("copying the files of %s: %w", what, err)
	}
	return ov, nil
}

// commit publishes what a run (or pipeline) left in its overlay.
func commit(what string, ov *vfs.Overlay) error {
	if err := ov.Commit(); err != nil {
		if errors.Is(err, vfs.ErrStale) {
			return newProblem(http.StatusConflict, api.ProblemConflict, "%s: %v", what, err)
		}
		return fmt.Errorf("publishing the outputs of %s: %w", what, err)
	}
	return nil
}

// runProgram runs one program under the policy's limits and returns its
// result with a signed receipt. The caller holds the program's lock. A
// refusal before the run (program missing, inputs missing, a budget
// spent) is a *problem. charged holds the budgets charged by earlier steps
// of the same pipeline, which this run does not charge again.
//
// The program runs in an overlay, a private copy of its files: it sees
// its inputs as they were when it started, and nobody sees what it writes
// until it ends, when its outputs are published all at once, whatever
// its outcome (a program that fails or is stopped leaves what it wrote,
// as a process would). For a single run ov is nil and runProgram makes
// and commits the overlay itself; a pipeline passes its own, which every
// step shares and the pipeline commits at its end.
//
// The result of a run that may read a held file not yet released, or
// write a held path, is folded (foldsResult, fold): it tells only success
// or failure, and its receipt says so. after says an earlier step of the
// same pipeline was folded: this step's result is then folded too, and
// its stdout and stderr withheld, as it may read what that step wrote.
func (r *Runtime) runProgram(ctx context.Context, prog *policy.Program, charged map[budgetKey]bool, ov *vfs.Overlay, after bool) (*api.RunResult, error) {
	cs := r.cert.Load()
	if cs == nil {
		return nil, newProblem(http.StatusConflict, api.ProblemNotReady, "the enclave has no certificate yet")
	}
	wasm, err := r.loadProgram(prog)
	if err != nil {
		return nil, err
	}
	own := ov == nil
	if own {
		if missing := r.missingInputs(prog, r.admin); len(missing) > 0 {
			return nil, newProblem(http.StatusConflict, api.ProblemNotReady, "%s cannot run yet: %s missing: the data owners must write them first", prog.Path, strings.Join(missing, ", "))
		}
		if err := r.makeDirs(prog); err != nil {
			return nil, err
		}
		// Nobody else writes the program's files from the copy of its
		// inputs to the commit of its outputs, so the receipt names what
		// it read and the commit overwrites no one's write.
		cl, err := r.claims.acquire(ctx, prog.Capabilities)
		if err != nil {
			return nil, fmt.Errorf("waiting for writes to the files of %s: %w", prog.Path, err)
		}
		defer r.claims.release(cl)
		if ov, err = r.newOverlay(prog.Path, prog.Capabilities); err != nil {
			return nil, err
		}
		defer ov.Discard() // after Commit, nothing
	} else if missing := r.missingInputs(prog, ov.FS().Unchecked()); len(missing) > 0 {
		return nil, newProblem(http.StatusConflict, api.ProblemNotReady, "%s cannot run yet: %s missing: the earlier steps or the data owners must write them first", prog.Path, strings.Join(missing, ", "))
	}
	fsys := ov.FS()
	inputs := r.filesIn(fsys, prog.Capabilities, capability.Read)
	budgets, err := r.chargeBudgets(inputs, charged)
	if err != nil {
		return nil, newProblem(http.StatusForbidden, api.ProblemBudgetExhausted, "%s cannot run: %v: nothing ran", prog.Path, err)
	}
	folded := after || r.foldsResult(prog.Capabilities, inputs)
	before := stamps(fsys, prog.Capabilities, capability.Write)
	stdout := &cappedBuffer{limit: api.MaxOutput}
	stderr := &cappedBuffer{limit: api.MaxOutput}
	lim := r.pol.Limits
	started := r.now().UTC()
	res, runErr := r.eng.Run(ctx, engine.Program{Wasm: wasm, Hash: prog.Hash()}, engine.Config{
		WASI: wasi.Config{
			Args:   []string{prog.Path},
			Stdin:  bytes.NewReader(nil),
			Stdout: stdout,
			Stderr: stderr,
			FS:     fsys.View(prog.Capabilities),
			Now:    r.now,
			Rand:   r.rand,
		},
		MemoryBytes: lim.Memory(),
		Timeout:     lim.Exec(),
		Native:      prog.NativeModules,
		// OutputBytes left at the engine's default: the result keeps the
		// first api.MaxOutput bytes of each stream.
	})
	finished := r.now().UTC()
	out := &api.RunResult{Program: prog.Path, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if folded || r.touchesHeld(prog.Capabilities) {
		out.Stdout, out.Stderr = nil, nil
	}
	if runErr != nil {
		// An engine error comes before the program runs: it carries
		// nothing the program read.
		out.Outcome = "error"
		out.ExitCode = 1
		out.Message = runErr.Error()
		if folded {
			fold(out)
		}
		r.log.Warn("run failed", "program", prog.Path, "error", runErr, "folded", folded)
	} else {
		out.Outcome = res.Outcome.String()
		out.ExitCode = res.ExitCode
		out.Message = res.Message
		if folded {
			fold(out) // and so in the enclave's log, which the host reads
		}
		r.log.Info("run", "program", prog.Path, "outcome", out.Outcome, "exit_code", out.ExitCode, "folded", folded,
			"cache_hit", res.CacheHit, "compile", res.Compile, "exec", res.Exec)
	}
	outputs := r.filesSince(fsys, prog.Capabilities, capability.Write, before)
	if own {
		if err := commit(prog.Path, ov); err != nil {
			return nil, err
		}
	}
	rc := receipt.Receipt{
		PolicyHash:  r.pol.HashHex(),
		Program:     prog.Path,
		ProgramHash: hex.EncodeToString(sha256Of(wasm)),
		Inputs:      inputs,
		Outputs:     outputs,
		ExitCode:    out.ExitCode,
		Outcome:     out.Outcome,
		Started:     started,
		Finished:    finished,
		Platform:    cs.platform,
		Chain:       cs.chain,
		PolicyChain: r.receiptChain(),
		Budgets:     budgets,
		Folded:      folded,
	}
	r.forgetVersions()
	key, err := r.signer()
	if err != nil {
		return nil, err
	}
	if err := receipt.Sign(&rc, key); err != nil {
		return nil, fmt.Errorf("signing the receipt of %s: %w", prog.Path, err)
	}
	out.Receipt = rc
	return out, nil
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// handlePipeline runs a pipeline's steps in order, stopping at the first
// that fails. The principal needs x on every step. Every step's program
// is locked (in path order) for the whole pipeline.
func (r *Runtime) handlePipeline(rq *request, name string) error {
	pl := r.pol.Pipeline(name)
	if pl == nil {
		return newProblem(http.StatusNotFound, api.ProblemNotFound, "the policy lists no pipeline %q", name)
	}
	progs := make([]*policy.Program, 0, len(pl.Steps))
	for _, step := range pl.Steps {
		if !r.pol.PrincipalAllows(rq.pr.Name, step, capability.Execute) {
			return newProblem(http.StatusForbidden, api.ProblemForbidden, "%s may not run pipeline %q: no \"x\" right on its step %s", rq.pr.Name, name, step)
		}
		prog := r.pol.Program(step)
		if prog == nil {
			return newProblem(http.StatusNotFound, api.ProblemNotFound, "pipeline %q names %s, which the policy does not list as a program", name, step)
		}
		progs = append(progs, prog)
	}
	if len(progs) == 0 {
		return newProblem(http.StatusConflict, api.ProblemConflict, "pipeline %q has no steps", name)
	}
	done, err := r.runs.take(rq.pr.Name)
	if err != nil {
		rq.w.Header().Set("Retry-After", "1")
		return err
	}
	defer done()
	paths := make([]string, 0, len(progs))
	seen := map[string]bool{}
	for _, p := range progs {
		if !seen[p.Path] {
			seen[p.Path] = true
			paths = append(paths, p.Path)
		}
	}
	release, err := r.takePrograms(rq, paths)
	if err != nil {
		return err
	}
	defer release()
	cs := r.cert.Load()
	if cs == nil {
		return newProblem(http.StatusConflict, api.ProblemNotReady, "the enclave has no certificate yet")
	}
	// Every program must be uploaded and the first step's inputs present
	// before anything runs; later steps may read what earlier ones write.
	union := capability.Set{}
	for _, p := range progs {
		if _, err := r.loadProgram(p); err != nil {
			return err
		}
		for g, rights := range p.Capabilities {
			union[g] |= rights
		}
	}
	if missing := r.missingInputs(progs[0], r.admin); len(missing) > 0 {
		return newProblem(http.StatusConflict, api.ProblemNotReady, "pipeline %q cannot start: %s missing: the data owners must write them first", name, strings.Join(missing, ", "))
	}
	for _, p := range progs {
		if err := r.makeDirs(p); err != nil {
			return err
		}
	}
	// The steps share one overlay: each sees what the earlier ones
	// wrote, nobody else sees any of it until the pipeline ends, and
	// nobody writes the pipeline's files meanwhile.
	what := fmt.Sprintf("pipeline %q", name)
	cl, err := r.claims.acquire(rq.req.Context(), union)
	if err != nil {
		return fmt.Errorf("waiting for writes to the files of %s: %w", what, err)
	}
	defer r.claims.release(cl)
	ov, err := r.newOverlay(what, union)
	if err != nil {
		return err
	}
	defer ov.Discard() // after Commit, nothing
	inputs := r.filesIn(ov.FS(), union, capability.Read)
	started := r.now().UTC()
	result := &api.PipelineResult{Pipeline: name, Steps: []api.RunResult{}}
	var failed *problem
	charged := map[budgetKey]bool{}
	folded := false // a step so far was folded, and so every later one
	for _, prog := range progs {
		res, err := r.runProgram(rq.req.Context(), prog, charged, ov, folded)
		if err != nil {
			p, ok := err.(*problem)
			if !ok {
				return err
			}
			if folded {
				// Why the step cannot start (an input missing, a
				// budget's count) follows from what the folded steps
				// wrote: told, it would carry what they read.
				p = &problem{status: http.StatusUnprocessableEntity, name: api.ProblemProgramFailed,
					detail: fmt.Sprintf("pipeline %q stopped before step %d; why is withheld, as an earlier step may read or write a held path not yet released (its receipt says folded)", name, len(result.Steps)+1)}
			}
			failed = p
			break
		}
		folded = folded || res.Receipt.Folded
		result.Steps = append(result.Steps, *res)
		if !succeeded(res) {
			failed = &problem{status: http.StatusUnprocessableEntity, name: api.ProblemProgramFailed,
				detail: fmt.Sprintf("pipeline %q stopped at step %d: %s", name, len(result.Steps), failureDetail(res)), result: res}
			break
		}
	}
	last := api.RunResult{Outcome: "not-run", ExitCode: 1}
	if n := len(result.Steps); n > 0 {
		last = result.Steps[n-1]
	}
	// What the steps that ran left is published, whether the pipeline
	// ended or stopped at a step, as when each step wrote in place.
	outputs := r.filesIn(ov.FS(), union, capability.Write)
	if err := commit(what, ov); err != nil {
		return err
	}
	rc := receipt.Receipt{
		PolicyHash:  r.pol.HashHex(),
		Program:     policy.PipelinePrefix + name,
		ProgramHash: pipelineHash(progs),
		Inputs:      inputs,
		Outputs:     outputs,
		ExitCode:    last.ExitCode,
		Outcome:     last.Outcome,
		Started:     started,
		Finished:    r.now().UTC(),
		Platform:    cs.platform,
		Chain:       cs.chain,
		PolicyChain: r.receiptChain(),
		Budgets:     lastUses(result.Steps),
		Folded:      folded,
	}
	if failed != nil && len(result.Steps) < len(progs) && failed.result == nil {
		rc.Outcome = failed.name
		if folded {
			rc.Outcome, rc.ExitCode = receipt.OutcomeFailed, 1
		}
	}
	key, err := r.signer()
	if err != nil {
		return err
	}
	if err := receipt.Sign(&rc, key); err != nil {
		return fmt.Errorf("signing the receipt of pipeline %q: %w", name, err)
	}
	result.Receipt = rc
	rq.hashes = []string{rc.ProgramHash, r.keepReceipt(rq, &rc)}
	if failed != nil {
		if failed.name != api.ProblemProgramFailed && !folded {
			failed.detail = fmt.Sprintf("pipeline %q stopped before step %d: %s", name, len(result.Steps)+1, failed.detail)
		}
		failed.pipeline = result
		return failed
	}
	writeJSON(rq.w, http.StatusOK, result)
	return nil
}

// lastUses merges the budget counts of a pipeline's steps, keeping the
// latest count of each budget, in the order first met.
func lastUses(steps []api.RunResult) []receipt.BudgetUse {
	var out []receipt.BudgetUse
	at := map[[2]string]int{}
	for _, st := range steps {
		for _, u := range st.Receipt.Budgets {
			k := [2]string{u.Principal, u.Path}
			if i, ok := at[k]; ok {
				out[i] = u
				continue
			}
			at[k] = len(out)
			out = append(out, u)
		}
	}
	return out
}

// pipelineHash is the hex SHA-256 of the steps' pinned program hashes
// (raw 32 bytes each), concatenated in order.
func pipelineHash(progs []*policy.Program) string {
	h := sha256.New()
	for _, p := range progs {
		ph := p.Hash()
		h.Write(ph[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cappedBuffer keeps the first limit bytes written to it and drops the rest
// without failing the writer.
type cappedBuffer struct {
	mu    sync.Mutex
	limit int
	buf   bytes.Buffer
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.limit - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
		} else {
			c.buf.Write(p)
		}
	}
	return len(p), nil
}

func (c *cappedBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf.Len() == 0 {
		return nil
	}
	return bytes.Clone(c.buf.Bytes())
}

// receiptBook holds the receipts the runtime signed, by hex
// receipt.Digest, as the audit log names them, until their entries are
// folded away or the runtime is wiped.
type receiptBook struct {
	mu    sync.Mutex
	m     map[string]receipt.Receipt
	wiped bool
}

func (b *receiptBook) keep(digest string, rc *receipt.Receipt) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wiped {
		return
	}
	if b.m == nil {
		b.m = map[string]receipt.Receipt{}
	}
	b.m[digest] = *rc
}

func (b *receiptBook) get(digest string) (receipt.Receipt, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rc, ok := b.m[digest]
	return rc, ok
}

func (b *receiptBook) forget(digests []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range digests {
		delete(b.m, d)
	}
}

// count returns how many receipts are kept.
func (b *receiptBook) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// wipe forgets every receipt and keeps no more.
func (b *receiptBook) wipe() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m, b.wiped = nil, true
}
