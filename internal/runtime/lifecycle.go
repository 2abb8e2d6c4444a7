package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
	"github.com/truce-project/truce/receipt"
)

// This file holds what changes over an enclave's life: successor
// policies, data-use budgets and held results. docs/spec/lifecycle.md
// specifies it.

// budgetKey names one budget: a principal's grant path.
type budgetKey struct{ principal, path string }

// releases records who released one version (by commitment) of a held
// file.
type releases struct {
	commit string
	by     map[string]bool
}

// chainHashes returns the hex policy hashes of the chain, first to
// current. The caller holds polMu.
func (r *Runtime) chainHashes() []string {
	hs := make([]string, len(r.chain))
	for i, l := range r.chain {
		hs[i] = l.SHA256
	}
	return hs
}

// receiptChain is what a receipt carries of the chain: nothing while the
// first policy rules (so receipts stay as they were), the whole chain of
// hashes after a change. The caller holds polMu.
func (r *Runtime) receiptChain() []string {
	if len(r.chain) == 1 {
		return nil
	}
	return r.chainHashes()
}

// handleSuccessor checks a proposed successor against the current policy
// (succession.Check) and, if it passes, makes it the policy: files it does
// not carry over are wiped, releases of held files are forgotten, and the
// chain grows by one link. The caller holds polMu for reading; every check
// (the base, the successor's validity, the quorum's signatures) is made
// under it, so a proposal that is not approved, or a policy with no
// quorum, is refused without ever waiting for the write lock. Only an
// approved proposal lets go of the read lock and takes runGate and polMu
// for writing (waiting for runs in flight, then for the short work of
// requests in progress, none of which waits on the network); if another
// change took effect in between, it is refused as not a successor.
func (r *Runtime) handleSuccessor(rq *request) error {
	b, err := io.ReadAll(rq.req.Body) // read whole, bounded, before the lock
	if err != nil {
		return bodyProblem(err, succession.MaxProposal)
	}
	prop, err := succession.ParseProposal(b)
	if err != nil {
		return newProblem(http.StatusBadRequest, api.ProblemBadRequest, "%v: send the file truce policy propose wrote", err)
	}
	cur := r.pol
	if cur.Quorum() == nil {
		return refusal(fmt.Errorf("%w: policy %s has no lifecycle.quorum; make a new enclave for a new policy", succession.ErrFrozen, cur.HashHex()))
	}
	if h := policy.Hash(prop.Base); h != cur.Hash() {
		return refusal(fmt.Errorf("%w: the proposal's base policy is %x, the enclave's current policy is %s: propose against the current policy (truce policy hash)", succession.ErrNotSuccessor, h, cur.HashHex()))
	}
	next, err := policy.Parse(prop.Policy, r.now())
	if err != nil {
		return refusal(fmt.Errorf("the proposed policy is not valid: %w", err))
	}
	signers, err := succession.Check(cur, next, prop.Approvals, r.now())
	if err != nil {
		return refusal(err)
	}
	r.unlock(rq)
	r.lock(rq, heldWrite)
	if r.pol != cur {
		return refusal(fmt.Errorf("%w: another successor (%s) took effect while this one was being checked: propose against the current policy", succession.ErrNotSuccessor, r.pol.HashHex()))
	}
	kept, wiped := r.fs.Retain(next.Carries)
	approvals := slices.Clone(prop.Approvals)
	r.chain = append(r.chain, api.PolicyLink{SHA256: next.HashHex(), Policy: next.Bytes(), Approvals: approvals})
	r.pol = next
	r.pols[next.HashHex()] = next
	r.mu.Lock()
	clear(r.releases)
	r.mu.Unlock()
	rq.hashes = []string{cur.HashHex(), next.HashHex()}
	rq.path = strings.Join(signers, ",")
	r.log.Info("policy changed", "from", cur.HashHex(), "to", next.HashHex(), "sequence", next.Sequence(), "approved_by", signers, "kept", kept, "wiped", wiped)
	writeJSON(rq.w, http.StatusOK, api.PolicyChange{
		Previous: cur.HashHex(), Current: next.HashHex(), Sequence: next.Sequence(),
		Chain: r.chainHashes(), Carried: kept, Wiped: wiped,
	})
	return nil
}

func refusal(err error) *problem {
	return newProblem(http.StatusForbidden, api.ProblemSuccessorRefused, "%v: the enclave's policy and files are as they were", err)
}

// pendingReleases returns who has yet to release the version commit of the
// file gp, sorted; none when gp is not held or everyone released it.
func (r *Runtime) pendingReleases(gp, commit string) []string {
	holders := r.pol.HoldersOf(gp)
	if len(holders) == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	rel := r.releases[gp]
	var pending []string
	for _, n := range holders {
		if rel == nil || rel.commit != commit || !rel.by[n] {
			pending = append(pending, n)
		}
	}
	return pending
}

// maxReleaseBody bounds the body of a release request.
const maxReleaseBody = 4096

// handleRelease records that the principal releases the current content
// of a held file. Releases are bound to the version (its commitment): a
// release of another version does not count, even of the same bytes (a
// later run wrote the same result), or whether a read is held would tell
// everyone reading the audit log that the new result is the released
// one.
func (r *Runtime) handleRelease(rq *request) error {
	gp := rq.path
	holders := r.pol.HoldersOf(gp)
	if len(holders) == 0 {
		return newProblem(http.StatusNotFound, api.ProblemNotFound, "no hold of the policy covers %s: it needs no release", gp)
	}
	if !slices.Contains(holders, rq.pr.Name) {
		return newProblem(http.StatusForbidden, api.ProblemForbidden, "%s may not release %s: the policy names %s", rq.pr.Name, gp, strings.Join(holders, ", "))
	}
	var body api.ReleaseRequest
	b, err := io.ReadAll(http.MaxBytesReader(rq.w, rq.req.Body, maxReleaseBody))
	if err != nil {
		return bodyProblem(err, maxReleaseBody)
	}
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			return newProblem(http.StatusBadRequest, api.ProblemBadRequest, "the body must be {\"commitment\": \"<hex>\"} or empty: %v", err)
		}
	}
	// A run writing gp waits until the release is recorded, so the hash
	// released is the content read.
	cl, err := r.claims.acquire(rq.req.Context(), capability.Set{gp: capability.Read})
	if err != nil {
		return newProblem(http.StatusServiceUnavailable, api.ProblemNotReady, "%s is in use by a run and the request ended while waiting: try again", gp)
	}
	defer r.claims.release(cl)
	o, err := r.openFile(gp)
	if err != nil {
		return fsProblem(err, rq.pr.Name, gp)
	}
	if body.Commitment != "" && !strings.EqualFold(body.Commitment, o.commit) {
		return newProblem(http.StatusConflict, api.ProblemConflict, "%s now holds the version with commitment %s, not the %s you release: check the latest receipt and release again", gp, o.commit, strings.ToLower(body.Commitment))
	}
	rq.hashes = []string{o.commit}
	r.mu.Lock()
	rel := r.releases[gp]
	if rel == nil || rel.commit != o.commit {
		rel = &releases{commit: o.commit, by: map[string]bool{}}
		r.releases[gp] = rel
	}
	rel.by[rq.pr.Name] = true
	res := api.ReleaseResult{Path: gp, Commitment: o.commit, ReleasedBy: []string{}, Pending: []string{}}
	for _, n := range holders {
		if rel.by[n] {
			res.ReleasedBy = append(res.ReleasedBy, n)
		} else {
			res.Pending = append(res.Pending, n)
		}
	}
	r.mu.Unlock()
	writeJSON(rq.w, http.StatusOK, res)
	return nil
}

// touchesHeld reports whether a program may read or write a path some
// hold covers; its stdout and stderr are then withheld from the run
// result, as they could carry the held result (written, or read back from
// an earlier run) to whoever ran it.
func (r *Runtime) touchesHeld(caps capability.Set) bool {
	for g, rights := range caps {
		if !rights.Has(capability.Write) && !rights.Has(capability.Read) {
			continue
		}
		for _, h := range r.pol.Holds {
			if policy.Overlaps(g, h.Path) {
				return true
			}
		}
	}
	return false
}

// foldsResult reports whether the result of a run of a program with caps,
// whose overlay holds inputs (each file it may read, by commitment), must
// be folded to success or failure: whether it may write a path some hold
// covers (what it writes there is a new version no one released), or read
// a held file whose version is not released by every holder (the version
// an earlier step of the same pipeline wrote never is). Its exit code,
// outcome and message are the program's choice, and could carry that
// file to whoever runs it or reads its receipts, before the release.
func (r *Runtime) foldsResult(caps capability.Set, inputs []receipt.FileHash) bool {
	for g, rights := range caps {
		if !rights.Has(capability.Write) {
			continue
		}
		for _, h := range r.pol.Holds {
			if policy.Overlaps(g, h.Path) {
				return true
			}
		}
	}
	for _, in := range inputs {
		if len(r.pendingReleases(in.Path, in.Commitment)) > 0 {
			return true
		}
	}
	return false
}

// fold makes a run's result say only whether it succeeded: exit code 0
// and outcome exited, or exit code 1 and outcome failed, and no message.
// Every way of failing is one: which limit a run hit (its time, its
// memory, its output) or where it trapped is the program's choice as
// much as its exit code.
func fold(out *api.RunResult) {
	if out.Outcome == receipt.OutcomeExited && out.ExitCode == 0 {
		out.Outcome = receipt.OutcomeExited
	} else {
		out.Outcome, out.ExitCode = receipt.OutcomeFailed, 1
	}
	out.Message = ""
}

// errBudget marks a run refused by a budget.
var errBudget = errors.New("budget exhausted")

// chargeBudgets charges one run to every budget covering one of the
// inputs, unless charged (budgets already charged by an earlier step of
// the same pipeline) holds it. If any budget is spent or past its
// not_after, nothing is charged and the run is refused. It returns every
// budget the run falls under, with its count after the charge.
func (r *Runtime) chargeBudgets(inputs []receipt.FileHash, charged map[budgetKey]bool) ([]receipt.BudgetUse, error) {
	type hit struct {
		key budgetKey
		b   policy.Budget
	}
	var hits []hit
	for _, pr := range r.pol.Principals {
		for _, g := range sortedPaths(pr.Budgets) {
			for _, in := range inputs {
				if capability.Covers(g, in.Path) {
					hits = append(hits, hit{budgetKey{pr.Name, g}, pr.Budgets[g]})
					break
				}
			}
		}
	}
	if len(hits) == 0 {
		return nil, nil
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range hits {
		if charged[h.key] {
			continue
		}
		if h.b.NotAfter != nil && !now.Before(*h.b.NotAfter) {
			return nil, fmt.Errorf("%w: the data of %s under %s may feed runs only until %s", errBudget, h.key.principal, h.key.path, h.b.NotAfter.UTC().Format(time.RFC3339))
		}
		if n := h.b.Limit(); n > 0 && r.uses[h.key] >= n {
			return nil, fmt.Errorf("%w: the data of %s under %s may feed %d run(s), and has fed %d", errBudget, h.key.principal, h.key.path, n, r.uses[h.key])
		}
	}
	uses := make([]receipt.BudgetUse, 0, len(hits))
	for _, h := range hits {
		if !charged[h.key] {
			r.uses[h.key]++
			charged[h.key] = true
		}
		uses = append(uses, receipt.BudgetUse{Principal: h.key.principal, Path: h.key.path, Runs: r.uses[h.key], MaxRuns: h.b.Limit()})
	}
	return uses, nil
}

func sortedPaths[V any](m map[string]V) []string {
	ps := make([]string, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}
