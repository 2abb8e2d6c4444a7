package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/truce-project/truce/platform"
	"github.com/truce-project/truce/policy"
)

// SimPlatform is the name of the simulated platform.
const SimPlatform = platform.Sim

// Step is one check of a chain of checks, kept so that the chain can be
// explained to people: what was checked, what was found, and, if it
// refused, the verdict.
type Step struct {
	// Name says what is checked, such as "measurement pinned".
	Name string
	// Detail says what was found when the step passed.
	Detail string
	// Verdict is why the step refused; nil if it passed.
	Verdict *Verdict
}

// OK reports whether the step passed.
func (s Step) OK() bool { return s.Verdict == nil }

// Refusal returns the verdict of the first step that refused, or nil if
// all passed. The result is a *Verdict or nil, never a typed nil.
func Refusal(steps []Step) error {
	for _, s := range steps {
		if s.Verdict != nil {
			return s.Verdict
		}
	}
	return nil
}

// Runtime is what is known of an enclave's runtime, from verified evidence
// (at the attestation service, or a client checking evidence itself) or
// from an enclave certificate (at a client).
type Runtime struct {
	Platform    string
	Measurement []byte
	// Extra are the extra measurements of verified evidence; a
	// certificate carries none (the attestation service checked them).
	Extra map[string][]byte
	// TCB are the platform's TCB components (Claims.TCB or Identity.TCB).
	TCB map[string]int
	// Collateral is the freshness of the vendor collateral the verifier
	// used, reported in verdicts.
	Collateral []Freshness
	// FromEvidence says Extra was read from evidence, so extra pins are
	// checked; from a certificate only the measurement is.
	FromEvidence bool
}

// RuntimeOf returns what verified claims say of the runtime.
func RuntimeOf(c *Claims) Runtime {
	return Runtime{Platform: c.Platform, Measurement: c.Measurement, Extra: c.Extra, TCB: c.TCB, Collateral: c.Collateral, FromEvidence: true}
}

// CheckRuntime applies the policy's rules on runtimes, in order, stopping
// at the first refusal: the measurement is not revoked (RuleRevoked), is
// listed for the platform with every extra pin of its entry when read from
// evidence (RuleMeasurement), and every TCB component the policy sets a
// minimum for on the platform is present and at least that
// (RuleMinimumTCB). The attestation service, the runtime and clients all
// decide with it.
func CheckRuntime(pol *policy.Policy, rt Runtime, at time.Time) []Step {
	var steps []Step
	add := func(name, detail string, v *Verdict) bool {
		if v != nil {
			v.Collateral, v.At = rt.Collateral, at
		}
		steps = append(steps, Step{Name: name, Detail: detail, Verdict: v})
		return v == nil
	}
	m := hex.EncodeToString(rt.Measurement)
	if pol == nil || pol.Bytes() == nil {
		add("measurement pinned", "", refuse(RuleMeasurement, rt.Platform+" measurement", "a measurement a parsed policy lists", m,
			"parse the policy with policy.Parse: a policy built by hand trusts nothing"))
		return steps
	}
	if r := pol.RevokedMeasurement(rt.Platform, rt.Measurement); r != nil {
		reason := r.Reason
		if reason == "" {
			reason = "no reason given"
		}
		add("measurement not revoked", "", refuse(RuleRevoked, rt.Platform+" measurement",
			"not in attestation.revoked", m+" (revoked: "+reason+")",
			"the policy revokes this runtime build: start a build the policy lists in attestation.runtimes"))
		return steps
	}
	if !add("measurement not revoked", fmt.Sprintf("%d revoked measurements, this is not one", len(pol.Attestation.Revoked)), nil) {
		return steps
	}
	if !add("measurement pinned", m+" is listed for "+rt.Platform, checkMeasurement(pol, rt)) {
		return steps
	}
	floor := pol.MinimumTCB(rt.Platform)
	if len(floor) == 0 {
		add("minimum TCB", "the policy sets none for "+rt.Platform, nil)
		return steps
	}
	spec, _ := platform.Lookup(rt.Platform)
	var met []string
	for _, c := range spec.TCB {
		want, set := floor[c]
		if !set {
			continue
		}
		claim := rt.Platform + " tcb " + c
		got, present := rt.TCB[c]
		switch {
		case !present:
			hint := "the evidence does not report this component; check the platform and its verifier"
			actual := "absent from the evidence"
			if !rt.FromEvidence {
				actual = "absent from the enclave certificate"
				hint = "the attestation service that issued the certificate did not record TCB components: use an attestation service of this Truce version"
			}
			add("minimum TCB", "", refuse(RuleMinimumTCB, claim, fmt.Sprintf("≥ %d", want), actual, hint))
			return steps
		case got < want:
			add("minimum TCB", "", refuse(RuleMinimumTCB, claim, fmt.Sprintf("≥ %d", want), fmt.Sprint(got),
				fmt.Sprintf("the platform's %s is older than the policy allows: update the host's firmware, or agree on a policy with a lower attestation.minimum_tcb.%s.%s", c, rt.Platform, c)))
			return steps
		}
		met = append(met, fmt.Sprintf("%s %d ≥ %d", c, got, want))
	}
	add("minimum TCB", strings.Join(met, ", "), nil)
	return steps
}

// checkMeasurement finds the policy's entry for the runtime; its verdict
// names the entries of the platform as the expected values.
func checkMeasurement(pol *policy.Policy, rt Runtime) *Verdict {
	var listed []string
	var matched []policy.Runtime
	for _, r := range pol.Runtimes(rt.Platform) {
		listed = append(listed, strings.ToLower(r.Measurement))
		if want, err := hex.DecodeString(r.Measurement); err == nil && len(want) > 0 && bytes.Equal(want, rt.Measurement) {
			matched = append(matched, r)
		}
	}
	actual := hex.EncodeToString(rt.Measurement)
	if len(matched) == 0 {
		expected := "one of " + strings.Join(listed, ", ")
		if len(listed) == 1 {
			expected = listed[0]
		}
		if len(listed) == 0 {
			var plats []string
			for _, r := range pol.Attestation.Runtimes {
				plats = append(plats, r.Platform)
			}
			expected = "a platform the policy lists (" + strings.Join(plats, ", ") + ")"
			actual = rt.Platform + " " + actual
		}
		return refuse(RuleMeasurement, rt.Platform+" measurement", expected, actual,
			"the enclave runs a build the policy does not pin: start the runtime the policy lists in attestation.runtimes, or compare with what \"truce measure\" prints for the build you mean to trust")
	}
	if !rt.FromEvidence || pol.TrustsEvidence(rt.Platform, rt.Measurement, rt.Extra) {
		return nil
	}
	// The measurement is listed, but an extra pin of every such entry
	// differs: name the first of the first entry.
	r := matched[0]
	for _, k := range slices.Sorted(maps.Keys(r.Extra)) {
		if got, ok := rt.Extra[k]; !ok || !strings.EqualFold(hex.EncodeToString(got), r.Extra[k]) {
			a := "absent from the evidence"
			if ok {
				a = hex.EncodeToString(got)
			}
			return refuse(RuleMeasurement, rt.Platform+" "+k, strings.ToLower(r.Extra[k]), a,
				"the enclave's "+k+" is not the one the policy pins with this measurement: start the enclave with the configuration the policy pins")
		}
	}
	return refuse(RuleMeasurement, rt.Platform+" extra pins", "the pins of attestation.runtimes", "other values", "")
}

// ExplainEnclave runs the checks of CheckEnclave on a chain presented by
// an enclave (leaf first) and returns every step made, stopping at the
// first refusal, and the identity if every step passed.
func ExplainEnclave(chain []*x509.Certificate, pol *policy.Policy, now time.Time) ([]Step, *Identity) {
	var steps []Step
	add := func(name, detail string, v *Verdict) bool {
		if v != nil {
			v.At = now
		}
		steps = append(steps, Step{Name: name, Detail: detail, Verdict: v})
		return v == nil
	}
	const chainHint = "check that the host uses the attestation service the policy names (attestation.service), and that this machine's clock is right"
	if len(chain) == 0 {
		add("certificate chains to the PAS CA", "", refuse(RuleChain, "enclave certificate", "a certificate chain", "none presented", chainHint))
		return steps, nil
	}
	if pol == nil || pol.CACertificate() == nil {
		add("certificate chains to the PAS CA", "", refuse(RuleChain, "policy attestation.ca_cert", "a PAS CA certificate", "none (policy not parsed)", "parse the policy with policy.Parse"))
		return steps, nil
	}
	roots := x509.NewCertPool()
	roots.AddCert(pol.CACertificate())
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	leaf := chain[0]
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		add("certificate chains to the PAS CA", "", refuse(RuleChain, "enclave certificate",
			fmt.Sprintf("issued by %q for TLS servers, valid at %s", pol.CACertificate().Subject.CommonName, now.UTC().Format(time.RFC3339)),
			fmt.Sprintf("issued by %q, valid %s to %s: %v", leaf.Issuer.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), err),
			chainHint))
		return steps, nil
	}
	add("certificate chains to the PAS CA", fmt.Sprintf("issued by %q, valid %s to %s", leaf.Issuer.CommonName,
		leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339)), nil)
	id, err := IdentityOf(leaf)
	if err != nil {
		add("enclave identity extension", "", refuse(RuleIdentity, "enclave identity extension "+ExtensionOID.String(), "present once and well-formed", err.Error(),
			"the certificate was not issued by a Truce attestation service for an enclave"))
		return steps, nil
	}
	add("enclave identity extension", fmt.Sprintf("platform %s, measurement %s", id.Platform, hex.EncodeToString(id.Measurement)), nil)
	// The certificate binds the policy the enclave started with: this
	// policy's own hash, or for a successor the first policy of its chain
	// (docs/trust-lifecycle.md).
	if want := pol.GenesisHash(); id.PolicyHash != want {
		add("policy hash", "", refuse(RulePolicyHash, "policy hash", hex.EncodeToString(want[:]), hex.EncodeToString(id.PolicyHash[:]),
			"the enclave runs another policy: check that you have the policy file the host was started with"))
		return steps, nil
	}
	if want := pol.Hash(); id.PolicyHash == want {
		add("policy hash", "the enclave started with this policy, "+pol.HashHex(), nil)
	} else {
		add("policy hash", "the enclave started with "+hex.EncodeToString(want[:])+", the first policy of this successor's chain", nil)
	}
	simOK := listsPlatform(pol, SimPlatform)
	switch {
	case id.Simulated && !simOK:
		add("simulated platform", "", refuse(RuleSimulated, "simulated", "hardware-backed (the policy does not list sim)", "simulated",
			"no hardware stands behind this enclave: only a policy listing platform sim accepts it"))
		return steps, nil
	case id.Platform == SimPlatform && !id.Simulated:
		add("simulated platform", "", refuse(RuleChain, "simulated", "true for platform sim", "false",
			"the certificate is malformed: its issuer is not a Truce attestation service"))
		return steps, nil
	case id.Simulated:
		add("simulated platform", "SIMULATED: the policy lists sim, so it is allowed; no hardware stands behind it", nil)
	default:
		add("simulated platform", "hardware-backed", nil)
	}
	rt := Runtime{Platform: id.Platform, Measurement: id.Measurement, TCB: id.TCB}
	for _, s := range CheckRuntime(pol, rt, now) {
		if !add(s.Name, s.Detail, s.Verdict) {
			return steps, nil
		}
	}
	return steps, id
}

// CheckEnclave verifies a chain presented by an enclave (leaf first) against
// the policy at time now: it must chain to the PAS CA pinned in the policy
// (ErrBadChain), be usable for TLS server authentication, carry an identity
// for this policy's genesis hash (ErrPolicyMismatch: the policy's own hash,
// or for a successor the hash of the first policy of its chain, which the
// enclave started with; see docs/trust-lifecycle.md), be simulated only if the
// policy lists "sim" (ErrSimulated), and pass CheckRuntime: a measurement
// not revoked (ErrRevoked) that the policy lists for that platform
// (ErrUntrustedMeasurement), with TCB components at least the policy's
// minimum (ErrTCBTooLow). Every refusal is a *Verdict.
func CheckEnclave(chain []*x509.Certificate, pol *policy.Policy, now time.Time) (*Identity, error) {
	steps, id := ExplainEnclave(chain, pol, now)
	if err := Refusal(steps); err != nil {
		return nil, err
	}
	return id, nil
}

func listsPlatform(pol *policy.Policy, platform string) bool {
	for _, r := range pol.Attestation.Runtimes {
		if r.Platform == platform {
			return true
		}
	}
	return false
}

// TrustsMeasurement reports whether the policy lists measurement m for the
// platform and does not revoke it (the check CheckEnclave makes of a
// certificate's measurement).
func TrustsMeasurement(pol *policy.Policy, platform string, m []byte) bool {
	return pol != nil && pol.Bytes() != nil && pol.RevokedMeasurement(platform, m) == nil &&
		checkMeasurement(pol, Runtime{Platform: platform, Measurement: m}) == nil
}
