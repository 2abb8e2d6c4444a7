package attest

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Rules of attestation: the stable names a Verdict gives for the check
// that refused. Each matches one sentinel error (see Verdict.Unwrap).
const (
	RuleChain       = "chain"       // certificate chain to the PAS CA: ErrBadChain
	RuleIdentity    = "identity"    // enclave identity extension: ErrNoIdentity
	RulePolicyHash  = "policy-hash" // policy the enclave runs: ErrPolicyMismatch
	RuleSimulated   = "simulated"   // simulated platform allowed: ErrSimulated
	RulePlatform    = "platform"    // platform known and consistent: ErrUnsupportedPlatform
	RuleEvidence    = "evidence"    // evidence signature and vendor chain: ErrBadEvidence
	RuleBinding     = "binding"     // report data binds key, policy, nonce: ErrBinding
	RuleRevoked     = "revoked"     // measurement revoked by the policy: ErrRevoked
	RuleMeasurement = "measurement" // measurement and extra pins listed: ErrUntrustedMeasurement
	RuleMinimumTCB  = "minimum-tcb" // TCB components at or above the policy's minimum: ErrTCBTooLow
)

// Further sentinels of the rules added with verdicts.
var (
	// ErrRevoked: the measurement is revoked by the policy.
	ErrRevoked = errors.New("measurement revoked by the policy")
	// ErrTCBTooLow: a TCB component is below the policy's minimum, or
	// missing where the policy sets one.
	ErrTCBTooLow = errors.New("TCB below the policy's minimum")
)

var ruleErrors = map[string]error{
	RuleChain:       ErrBadChain,
	RuleIdentity:    ErrNoIdentity,
	RulePolicyHash:  ErrPolicyMismatch,
	RuleSimulated:   ErrSimulated,
	RulePlatform:    ErrUnsupportedPlatform,
	RuleEvidence:    ErrBadEvidence,
	RuleBinding:     ErrBinding,
	RuleRevoked:     ErrRevoked,
	RuleMeasurement: ErrUntrustedMeasurement,
	RuleMinimumTCB:  ErrTCBTooLow,
}

// Freshness says when a piece of vendor collateral (such as Intel's TCB
// info) was issued and when its issuer promises the next one.
type Freshness struct {
	// Name names the collateral, such as "tcb_info".
	Name string `json:"name"`
	// Issued is when the vendor issued it.
	Issued time.Time `json:"issued"`
	// NextUpdate is when the vendor issues the next; the collateral is
	// stale after it.
	NextUpdate time.Time `json:"next_update"`
}

// At describes the collateral's freshness at time at, on one line.
func (f Freshness) At(at time.Time) string {
	state := "current"
	switch {
	case at.Before(f.Issued):
		state = "not yet valid"
	case !f.NextUpdate.IsZero() && at.After(f.NextUpdate):
		state = "STALE by " + at.Sub(f.NextUpdate).Round(time.Minute).String()
	}
	return fmt.Sprintf("%s issued %s, next update %s (%s)", f.Name,
		f.Issued.UTC().Format(time.RFC3339), f.NextUpdate.UTC().Format(time.RFC3339), state)
}

// Verdict is a structured refusal: which claim of the evidence or
// certificate was checked, what the rule expected, what was there, and the
// freshness of any vendor collateral the check relied on. Every refusal of
// CheckEnclave, CheckRuntime and of the attestation service is one;
// callers get it with errors.As, and errors.Is matches the sentinel of its
// rule (such as ErrUntrustedMeasurement for RuleMeasurement).
type Verdict struct {
	// Rule is one of the Rule* names.
	Rule string `json:"rule"`
	// Claim names what was checked, such as "snp tcb microcode".
	Claim string `json:"claim"`
	// Expected is what the rule accepts, such as "≥ 115".
	Expected string `json:"expected"`
	// Actual is what the evidence or certificate says, such as "114".
	Actual string `json:"actual"`
	// Hint says what to do about it.
	Hint string `json:"hint,omitempty"`
	// Collateral is the vendor collateral the verifier used, if any.
	Collateral []Freshness `json:"collateral,omitempty"`
	// At is when the check was made.
	At time.Time `json:"at,omitzero"`
}

// Error is the verdict on one line, hint excluded, led by the message of
// the rule's sentinel error:
// "measurement not trusted by the policy: sim measurement: expected E, got A (rule measurement)".
func (v *Verdict) Error() string {
	if e := v.Unwrap(); e != nil {
		return e.Error() + ": " + v.Summary()
	}
	return v.Summary()
}

// Summary is Error without the sentinel's message:
// "sim measurement: expected E, got A (rule measurement)", followed by the
// collateral's freshness, if any.
func (v *Verdict) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: expected %s, got %s (rule %s", oneLine(v.Claim), oneLine(v.Expected), oneLine(v.Actual), oneLine(v.Rule))
	for _, f := range v.Collateral {
		b.WriteString("; ")
		b.WriteString(oneLine(f.At(v.At)))
	}
	b.WriteString(")")
	return b.String()
}

// Printable returns a copy of v whose texts are each on one bounded line,
// without control characters, for showing field by field.
func (v *Verdict) Printable() *Verdict {
	c := *v
	c.Rule, c.Claim, c.Expected, c.Actual, c.Hint = oneLine(v.Rule), oneLine(v.Claim), oneLine(v.Expected), oneLine(v.Actual), oneLine(v.Hint)
	c.Collateral = nil
	for _, f := range v.Collateral {
		f.Name = oneLine(f.Name)
		c.Collateral = append(c.Collateral, f)
	}
	return &c
}

// Unwrap returns the sentinel error of the verdict's rule, or nil for a
// rule this version does not know.
func (v *Verdict) Unwrap() error { return ruleErrors[v.Rule] }

// Valid reports whether v names a known rule and a claim: what a verdict
// decoded from the network must have to be shown.
func (v *Verdict) Valid() bool {
	return v != nil && ruleErrors[v.Rule] != nil && v.Claim != ""
}

// maxField bounds each field of a verdict as printed, so that a verdict
// from the network cannot flood a terminal.
const maxField = 512

// oneLine keeps s on one line and bounded: control characters become
// spaces.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxField {
		s = strings.ToValidUTF8(s[:maxField], "") + "…"
	}
	return s
}

func refuse(rule, claim, expected, actual, hint string) *Verdict {
	return &Verdict{Rule: rule, Claim: claim, Expected: expected, Actual: actual, Hint: hint}
}
