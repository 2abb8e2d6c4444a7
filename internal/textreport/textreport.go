// Package textreport writes for people what the checks of the SDK
// return: a verified receipt (Receipt), the report of a verified audit
// bundle (Bundle), a verified enclave (Enclave), a checked audit log
// (AuditLog) and a run's result (Run), as the truce commands print them.
//
// It only formats: it must never check anything itself (its callers
// print a report only once the SDK verified it), and it writes nothing
// but to the writer it is given.
package textreport

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/bundle"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// Receipt writes what a verified receipt says, run under pol: the policy
// (and chain), the enclave, the program, how it ended, when, the
// commitments of its inputs and outputs and the budgets it used.
func Receipt(w io.Writer, r *receipt.Receipt, pol *policy.Policy) {
	fmt.Fprintf(w, "receipt verified\n")
	fmt.Fprintf(w, "  signature:  by the enclave key of the attached certificate\n")
	fmt.Fprintf(w, "  policy:     %s (%s)\n", r.PolicyHash, pol.Name)
	if len(r.PolicyChain) > 0 {
		fmt.Fprintf(w, "  chain:      %s\n", strings.Join(r.PolicyChain, " → "))
	}
	if len(r.Chain) > 0 {
		if leaf, err := x509.ParseCertificate(r.Chain[0]); err == nil {
			if id, err := attest.IdentityOf(leaf); err == nil {
				sim := ""
				if id.Simulated {
					sim = " (SIMULATED: no hardware stands behind it)"
				}
				fmt.Fprintf(w, "  enclave:    %s measurement %s%s, certified by %q\n", id.Platform, hex.EncodeToString(id.Measurement), sim, leaf.Issuer.CommonName)
			}
		}
	}
	fmt.Fprintf(w, "  program:    %s sha256 %s\n", r.Program, r.ProgramHash)
	fmt.Fprintf(w, "  outcome:    %s, exit code %d\n", r.Outcome, r.ExitCode)
	fmt.Fprintf(w, "  ran:        %s to %s\n", r.Started.UTC().Format(time.RFC3339Nano), r.Finished.UTC().Format(time.RFC3339Nano))
	for _, f := range r.Inputs {
		fmt.Fprintf(w, "  input:      %s commitment %s\n", f.Path, f.Commitment)
	}
	for _, f := range r.Outputs {
		fmt.Fprintf(w, "  output:     %s commitment %s\n", f.Path, f.Commitment)
	}
	for _, b := range r.Budgets {
		limit := ""
		if b.MaxRuns > 0 {
			limit = fmt.Sprintf(" of %d", b.MaxRuns)
		}
		fmt.Fprintf(w, "  budget:     data of %s under %s has fed %d run(s)%s\n", b.Principal, b.Path, b.Runs, limit)
	}
}

// Bundle writes the report of a verified audit bundle: who exported it,
// its chain of policies, the enclave, its certificate and evidence, the
// audit log and every run with its receipt or the fact it was withheld.
func Bundle(w io.Writer, rep *bundle.Report) {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	pol, id, cp := rep.Policy, rep.Enclave, rep.Checkpoint
	fmt.Fprintf(w, "audit bundle verified: digest %s\n", rep.Digest)
	fmt.Fprintf(w, "  exported by:  %s, at %s by its clock (signed with its key in the last policy)\n", rep.Exporter, ts(rep.Exported))
	fmt.Fprintf(w, "  policy:       %q sha256 %s (chain of %d)\n", pol.Name, pol.HashHex(), len(rep.Chain))
	for i, l := range rep.Chain {
		how := "the first policy, which the enclave's certificate and evidence bind"
		if i > 0 {
			how = fmt.Sprintf("succeeded #%d at audit entry %d, approved by %s", i-1, l.Seq, strings.Join(l.ApprovedBy, ", "))
		}
		fmt.Fprintf(w, "    #%d %q sha256 %s: %s\n", i, l.Policy.Name, l.Policy.HashHex(), how)
	}
	sim := ""
	if id.Simulated {
		sim = " (SIMULATED: no hardware stands behind it)"
	}
	fmt.Fprintf(w, "  enclave:      %s measurement %s%s, key sha256 %s\n", id.Platform, hex.EncodeToString(id.Measurement), sim, rep.KeyHash)
	fmt.Fprintf(w, "  certificate:  issued by %q, the CA the first policy pins; valid %s to %s\n", rep.Leaf.Issuer.CommonName, ts(rep.Leaf.NotBefore), ts(rep.Leaf.NotAfter))
	if rep.Evidence != nil {
		fmt.Fprintf(w, "  evidence:     %s evidence verified: measurement %s, binds the enclave key, the first policy and the nonce\n", rep.Evidence.Platform, hex.EncodeToString(rep.Evidence.Measurement))
	}
	fmt.Fprintf(w, "  audit log:    %d entries, hash chain checks, signed by the enclave at %s (head %s)\n", len(rep.Entries), ts(cp.Time), cp.Head)
	if cp.From > 0 {
		fmt.Fprintf(w, "                from entry %d: the %d before were folded away, the first kept follows %s\n", cp.From, cp.From, cp.Prev)
	}
	if cp.Total > cp.Size {
		fmt.Fprintf(w, "                to entry %d of %d: the enclave logged more after\n", cp.Size-1, cp.Total)
	}
	var held, withheld int
	for _, r := range rep.Runs {
		if r.Receipt != nil {
			held++
		} else {
			withheld++
		}
	}
	fmt.Fprintf(w, "  receipts:     %d verified, signed by the enclave key; %d withheld from %s\n", held, withheld, rep.Exporter)
	fmt.Fprintf(w, "runs (%d):\n", len(rep.Runs))
	for _, r := range rep.Runs {
		e := r.Entry
		what := e.Path
		if e.Action == "pipeline" {
			what = "pipeline " + e.Path
		}
		fmt.Fprintf(w, "  #%d %s %s ran %s (sha256 %s) under policy #%d: %s\n", e.Seq, ts(e.Time), e.Principal, what, e.Hashes[0], r.Policy, e.Outcome)
		rc := r.Receipt
		if rc == nil {
			fmt.Fprintf(w, "      receipt %s withheld from %s: inputs and outputs not shown\n", r.Digest, rep.Exporter)
			continue
		}
		fmt.Fprintf(w, "      receipt %s: %s, exit code %d, ran %s to %s\n", r.Digest, rc.Outcome, rc.ExitCode, ts(rc.Started), ts(rc.Finished))
		for _, f := range rc.Inputs {
			fmt.Fprintf(w, "      input   %s commitment %s\n", f.Path, f.Commitment)
		}
		for _, f := range rc.Outputs {
			fmt.Fprintf(w, "      output  %s commitment %s\n", f.Path, f.Commitment)
		}
	}
}

// Enclave writes what the client verified of the enclave it dialled under
// pol: platform, whether simulated, measurement, policy hash, certificate
// and the enclave key's SHA-256. It returns the key's curl pin
// (sha256//BASE64).
func Enclave(w io.Writer, pol *policy.Policy, id *attest.Identity, leaf *x509.Certificate) (pin string) {
	sim := "no (hardware-backed)"
	if id.Simulated {
		sim = "YES: no hardware stands behind this enclave; for testing only"
	}
	fmt.Fprintf(w, "enclave verified for policy %q\n", pol.Name)
	fmt.Fprintf(w, "  platform:     %s\n", id.Platform)
	fmt.Fprintf(w, "  simulated:    %s\n", sim)
	fmt.Fprintf(w, "  measurement:  %s (pinned by the policy)\n", hex.EncodeToString(id.Measurement))
	fmt.Fprintf(w, "  policy hash:  %s (equal to this policy's; the enclave's copy matches byte for byte)\n", hex.EncodeToString(id.PolicyHash[:]))
	fmt.Fprintf(w, "  certificate:  %s, valid %s to %s\n", leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "  issued by:    %s (the attestation service CA the policy pins)\n", pol.CACertificate().Subject.CommonName)
	fp := client.KeyFingerprint(leaf)
	pin = "sha256//" + base64.StdEncoding.EncodeToString(fp[:])
	fmt.Fprintf(w, "  enclave key:  sha256:%s (this enclave instance; curl --pinnedpubkey %s)\n", hex.EncodeToString(fp[:]), pin)
	return pin
}

// AuditLog writes a checked audit log, one line per entry, then a summary;
// signed says its checkpoint was checked too.
func AuditLog(w io.Writer, l *api.AuditLog, signed bool) {
	for _, en := range l.Entries {
		fmt.Fprintf(w, "%d %s %-8s %-9s %s %s\n", en.Seq, en.Time.UTC().Format("15:04:05.000"), en.Principal, en.Action, en.Path, en.Outcome)
	}
	how := ""
	if signed {
		how = ", signed by the enclave"
	}
	fmt.Fprintf(w, "%d entries, chain checks%s, head %s\n", len(l.Entries), how, l.Head)
	if cp := l.Checkpoint; cp != nil && cp.From > 0 {
		fmt.Fprintf(w, "the %d entries before entry %d were folded away; entry %d follows %s\n", cp.From, cp.From, cp.From, cp.Prev)
	}
}

// Run writes a run's output to stdout and stderr, as the program wrote
// them, then how it ended to stderr.
func Run(stdout, stderr io.Writer, rr *api.RunResult) {
	stdout.Write(rr.Stdout)
	if len(rr.Stderr) > 0 {
		stderr.Write(rr.Stderr)
	}
	msg := ""
	if rr.Message != "" {
		msg = " (" + strings.TrimSpace(rr.Message) + ")"
	}
	fmt.Fprintf(stderr, "%s: %s, exit code %d%s\n", rr.Program, rr.Outcome, rr.ExitCode, msg)
}
