package attest

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/truce-project/truce/policy"
)

// EvidenceCheck is what one piece of evidence must be checked against: the
// platform it is said to be of, the key, policy hash and nonce its report
// data must bind and, where it is checked against an enclave certificate
// already issued, the identity that certificate carries.
type EvidenceCheck struct {
	// Platform is the platform the evidence is said to be of: the
	// attestation request's, or the enclave certificate's.
	Platform string
	// Evidence is the platform's signed evidence.
	Evidence []byte
	// Key is the DER SubjectPublicKeyInfo the report data must bind: the
	// enclave's key, from its CSR or its certificate.
	Key []byte
	// PolicyHash is the policy hash the report data must bind.
	PolicyHash [32]byte
	// Nonce is the nonce the report data must bind.
	Nonce []byte
	// Enclave, if set, is the identity of the enclave certificate the
	// evidence is checked against: the evidence must attest its
	// measurement and agree with it on simulation. Nil where no
	// certificate is issued yet (at the attestation service).
	Enclave *Identity
	// Hints replace the hint of a refusal by rule (such as RuleEvidence),
	// for a checker whose reader has other things to do about it (the
	// attestation service's host operator rather than a client); nil
	// keeps the defaults, written for a client.
	Hints map[string]string
}

// ExplainEvidence checks evidence the one way the attestation service,
// clients in direct mode and the offline audit bundle verifier all do, and
// returns every step made, stopping at the first refusal, and the claims
// if every step passed: v checks evidence of ev.Platform; the evidence
// verifies with v at time now (RuleEvidence) and is of that platform
// (RulePlatform); its report data binds ev.Key, ev.PolicyHash and
// ev.Nonce (ReportData; RuleBinding); it attests the measurement of
// ev.Enclave, if set (RuleMeasurement); it passes the policy's rules on
// runtimes (CheckRuntime: RuleRevoked, RuleMeasurement, RuleMinimumTCB);
// and it agrees with ev.Enclave, if set, on simulation (RuleSimulated).
// Every refusal is a *Verdict made at now.
func ExplainEvidence(v Verifier, pol *policy.Policy, ev EvidenceCheck, now time.Time) ([]Step, *Claims) {
	var steps []Step
	add := func(name, detail string, verdict *Verdict) bool {
		if verdict != nil {
			verdict.At = now
			if h, ok := ev.Hints[verdict.Rule]; ok {
				verdict.Hint = h
			}
		}
		steps = append(steps, Step{Name: name, Detail: detail, Verdict: verdict})
		return verdict == nil
	}
	if v == nil || pol == nil {
		add("signature and vendor chain", "", refuse(RuleEvidence, ev.Platform+" evidence", "a verifier and a policy to check it against", "none",
			"give the check the verifier of the enclave's platform and a parsed policy"))
		return steps, nil
	}
	if v.Platform() != ev.Platform {
		add("verifier of the platform", "", refuse(RulePlatform, "evidence platform", v.Platform(), ev.Platform,
			"check the evidence with the verifier of the enclave's platform"))
		return steps, nil
	}
	claims, err := v.Verify(ev.Evidence, VerifyOptions{Now: now})
	if err != nil {
		add("signature and vendor chain", "", refuse(RuleEvidence, ev.Platform+" evidence",
			"a signature and vendor chain valid at "+now.UTC().Format(time.RFC3339), err.Error(),
			"the enclave's own evidence does not verify: report it to the host's operator; do not use this enclave"))
		return steps, nil
	}
	detail := fmt.Sprintf("verified at %s", now.UTC().Format(time.RFC3339))
	for _, f := range claims.Collateral {
		detail += "; " + f.At(now)
	}
	add("signature and vendor chain", detail, nil)
	if claims.Platform != ev.Platform {
		add("evidence of the platform", "", refuse(RulePlatform, "evidence platform", ev.Platform, claims.Platform,
			"the evidence is of another platform than it is said to be: do not use this enclave"))
		return steps, nil
	}
	if want := ReportData(ev.Key, ev.PolicyHash, ev.Nonce); claims.ReportData != want {
		verdict := refuse(RuleBinding, "report data", hex.EncodeToString(want[:]), hex.EncodeToString(claims.ReportData[:]),
			fmt.Sprintf("the evidence does not bind the enclave's key, this policy and nonce %x: do not use this enclave", ev.Nonce))
		verdict.Collateral = claims.Collateral
		add("report data binds key, policy and nonce", "", verdict)
		return steps, nil
	}
	add("report data binds key, policy and nonce", "SHA-512(truce-attest-v1 ‖ SHA-256(enclave key) ‖ policy hash ‖ nonce)", nil)
	if ev.Enclave != nil {
		if !bytes.Equal(claims.Measurement, ev.Enclave.Measurement) {
			verdict := refuse(RuleMeasurement, claims.Platform+" measurement", hex.EncodeToString(ev.Enclave.Measurement)+" (the certificate's)",
				hex.EncodeToString(claims.Measurement), "the evidence and the certificate name different runtimes: do not use this enclave")
			verdict.Collateral = claims.Collateral
			add("measurement as in the certificate", "", verdict)
			return steps, nil
		}
		add("measurement as in the certificate", hex.EncodeToString(claims.Measurement), nil)
	}
	for _, st := range CheckRuntime(pol, RuntimeOf(claims), now) {
		if !add(st.Name, st.Detail, st.Verdict) {
			return steps, nil
		}
	}
	if ev.Enclave != nil {
		if claims.Simulated != ev.Enclave.Simulated {
			add("simulation as in the certificate", "", refuse(RuleSimulated, "simulated", fmt.Sprint(ev.Enclave.Simulated)+" (the certificate's)",
				fmt.Sprint(claims.Simulated), "the evidence and the certificate disagree on simulation: do not use this enclave"))
			return steps, nil
		}
		add("simulation as in the certificate", fmt.Sprintf("simulated: %t", claims.Simulated), nil)
	}
	return steps, claims
}

// CheckEvidence checks an enclave's own evidence against the certificate
// it was certified with, the way every client does in direct mode and the
// audit bundle verifier does offline: ExplainEvidence with the platform
// and identity enc names (what CheckEnclave returned for the chain whose
// leaf is leaf), leaf's key and the hash of the policy the enclave started
// with (pol's genesis hash). Every refusal is a *Verdict; errors.Is
// matches ErrBadEvidence, ErrBinding, ErrUntrustedMeasurement, ErrRevoked,
// ErrTCBTooLow, ErrUnsupportedPlatform or ErrSimulated.
func CheckEvidence(v Verifier, pol *policy.Policy, enc *Identity, leaf *x509.Certificate, evidence, nonce []byte, now time.Time) (*Claims, error) {
	if v == nil || enc == nil || leaf == nil || pol == nil {
		return nil, fmt.Errorf("%w: nothing to check the evidence against", ErrBadEvidence)
	}
	steps, claims := ExplainEvidence(v, pol, EvidenceCheck{Platform: enc.Platform, Evidence: evidence, Key: leaf.RawSubjectPublicKeyInfo,
		PolicyHash: pol.GenesisHash(), Nonce: nonce, Enclave: enc}, now)
	if err := Refusal(steps); err != nil {
		return nil, err
	}
	return claims, nil
}
