package attest_test

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/policy"
)

// rulesPolicy trusts one snp, one tdx and one sgx runtime, revokes an
// older snp build, and sets a minimum TCB on each platform.
func rulesPolicy(t *testing.T, ca *attesttest.CA) (*policy.Policy, map[string][]byte) {
	t.Helper()
	m := map[string][]byte{
		"snp": bytes.Repeat([]byte{0x5a}, 48), "tdx": bytes.Repeat([]byte{0x7d}, 48), "sgx": bytes.Repeat([]byte{0x59}, 32),
		"revoked": bytes.Repeat([]byte{0x01}, 48),
	}
	pol := attesttest.Policy(t, attesttest.PolicyOptions{
		CACertPEM: ca.PEM(),
		Runtimes:  []attesttest.Runtime{{Platform: "snp", Measurement: m["snp"]}, {Platform: "tdx", Measurement: m["tdx"]}, {Platform: "sgx", Measurement: m["sgx"]}},
		MinimumTCB: map[string]policy.TCB{
			"snp": {"bootloader": 2, "tee": 1, "snp": 5, "microcode": 68},
			"tdx": {"pce_svn": 11, "tee_tcb_svn.0": 3, "cpu_svn.3": 2},
			"sgx": {"isv_svn": 1, "pce_svn": 13},
		},
		Revoked: []policy.Revocation{{Platform: "snp", Measurement: hex.EncodeToString(m["revoked"]), Reason: "TRUCE-2026-01: key leak"}},
	})
	return pol, m
}

func TestCheckRuntimeRules(t *testing.T) {
	ca := attesttest.NewCA(t)
	pol, m := rulesPolicy(t, ca)
	snpAt := map[string]int{"bootloader": 2, "tee": 1, "snp": 5, "microcode": 68}
	with := func(base map[string]int, k string, v int) map[string]int {
		out := map[string]int{}
		for kk, vv := range base {
			out[kk] = vv
		}
		if v < 0 {
			delete(out, k)
		} else {
			out[k] = v
		}
		return out
	}
	tdxAt := map[string]int{"pce_svn": 11, "tee_tcb_svn.0": 3, "cpu_svn.3": 2}
	sgxAt := map[string]int{"isv_svn": 1, "pce_svn": 13}
	fresh := []attest.Freshness{{Name: "tcb_info", Issued: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), NextUpdate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}}
	for _, tc := range []struct {
		name string
		rt   attest.Runtime
		// want is the verdict's rule, claim, expected and actual; empty
		// rule means accepted.
		rule, claim, expected, actual string
		sentinel                      error
	}{
		{name: "snp at minimum", rt: attest.Runtime{Platform: "snp", Measurement: m["snp"], TCB: snpAt, FromEvidence: true}},
		{name: "snp above minimum", rt: attest.Runtime{Platform: "snp", Measurement: m["snp"], TCB: with(snpAt, "microcode", 200)}},
		{name: "snp bootloader below", rt: attest.Runtime{Platform: "snp", Measurement: m["snp"], TCB: with(snpAt, "bootloader", 1), FromEvidence: true},
			rule: attest.RuleMinimumTCB, claim: "snp tcb bootloader", expected: "≥ 2", actual: "1", sentinel: attest.ErrTCBTooLow},
		{name: "snp tee below", rt: attest.Runtime{Platform: "snp", Measurement: m["snp"], TCB: with(snpAt, "tee", 0)},
			rule: attest.RuleMinimumTCB, claim: "snp tcb tee", expected: "≥ 1", actual: "0", sentinel: attest.ErrTCBTooLow},
		{name: "snp snp below", rt: attest.Runtime{Platform: "snp", Measurement: m["snp"], TCB: with(snpAt, "snp", 4)},
			rule: attest.RuleMinimumTCB, claim: "snp tcb snp", expected: "≥ 5", actual: "4", sentinel: attest.ErrTCBTooLow},
		{name: "snp microcode below", rt: attest.Runtime{Platform: "snp", Measurement: m["snp"], TCB: with(snpAt, "microcode", 67)},
			rule: attest.RuleMinimumTCB, claim: "snp tcb microcode", expected: "≥ 68", actual: "67", sentinel: attest.ErrTCBTooLow},
		{name: "snp microcode absent from certificate", rt: attest.Runtime{Platform: "snp", Measurement: m["snp"], TCB: with(snpAt, "microcode", -1)},
			rule: attest.RuleMinimumTCB, claim: "snp tcb microcode", expected: "≥ 68", actual: "absent from the enclave certificate", sentinel: attest.ErrTCBTooLow},
		{name: "snp no TCB in evidence", rt: attest.Runtime{Platform: "snp", Measurement: m["snp"], FromEvidence: true},
			rule: attest.RuleMinimumTCB, claim: "snp tcb bootloader", expected: "≥ 2", actual: "absent from the evidence", sentinel: attest.ErrTCBTooLow},
		{name: "tdx at minimum", rt: attest.Runtime{Platform: "tdx", Measurement: m["tdx"], TCB: tdxAt}},
		{name: "tdx pce_svn below", rt: attest.Runtime{Platform: "tdx", Measurement: m["tdx"], TCB: with(tdxAt, "pce_svn", 10)},
			rule: attest.RuleMinimumTCB, claim: "tdx tcb pce_svn", expected: "≥ 11", actual: "10", sentinel: attest.ErrTCBTooLow},
		{name: "tdx tee_tcb_svn.0 below", rt: attest.Runtime{Platform: "tdx", Measurement: m["tdx"], TCB: with(tdxAt, "tee_tcb_svn.0", 2)},
			rule: attest.RuleMinimumTCB, claim: "tdx tcb tee_tcb_svn.0", expected: "≥ 3", actual: "2", sentinel: attest.ErrTCBTooLow},
		{name: "tdx cpu_svn.3 below", rt: attest.Runtime{Platform: "tdx", Measurement: m["tdx"], TCB: with(tdxAt, "cpu_svn.3", 1)},
			rule: attest.RuleMinimumTCB, claim: "tdx tcb cpu_svn.3", expected: "≥ 2", actual: "1", sentinel: attest.ErrTCBTooLow},
		{name: "sgx at minimum", rt: attest.Runtime{Platform: "sgx", Measurement: m["sgx"], TCB: sgxAt, FromEvidence: true}},
		{name: "sgx isv_svn below", rt: attest.Runtime{Platform: "sgx", Measurement: m["sgx"], TCB: with(sgxAt, "isv_svn", 0), Collateral: fresh, FromEvidence: true},
			rule: attest.RuleMinimumTCB, claim: "sgx tcb isv_svn", expected: "≥ 1", actual: "0", sentinel: attest.ErrTCBTooLow},
		{name: "sgx pce_svn below", rt: attest.Runtime{Platform: "sgx", Measurement: m["sgx"], TCB: with(sgxAt, "pce_svn", 12)},
			rule: attest.RuleMinimumTCB, claim: "sgx tcb pce_svn", expected: "≥ 13", actual: "12", sentinel: attest.ErrTCBTooLow},
		{name: "revoked measurement", rt: attest.Runtime{Platform: "snp", Measurement: m["revoked"], TCB: snpAt},
			rule: attest.RuleRevoked, claim: "snp measurement", expected: "not in attestation.revoked", actual: hex.EncodeToString(m["revoked"]) + " (revoked: TRUCE-2026-01: key leak)", sentinel: attest.ErrRevoked},
		{name: "revoked on another platform only", rt: attest.Runtime{Platform: "tdx", Measurement: m["revoked"]},
			rule: attest.RuleMeasurement, claim: "tdx measurement", expected: hex.EncodeToString(m["tdx"]), actual: hex.EncodeToString(m["revoked"]), sentinel: attest.ErrUntrustedMeasurement},
		{name: "wrong measurement", rt: attest.Runtime{Platform: "snp", Measurement: bytes.Repeat([]byte{0xee}, 48), TCB: snpAt},
			rule: attest.RuleMeasurement, claim: "snp measurement", expected: hex.EncodeToString(m["snp"]), actual: strings.Repeat("ee", 48), sentinel: attest.ErrUntrustedMeasurement},
		{name: "platform not listed", rt: attest.Runtime{Platform: "nitro", Measurement: bytes.Repeat([]byte{0xee}, 48)},
			rule: attest.RuleMeasurement, claim: "nitro measurement", expected: "a platform the policy lists (snp, tdx, sgx)", actual: "nitro " + strings.Repeat("ee", 48), sentinel: attest.ErrUntrustedMeasurement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
			steps := attest.CheckRuntime(pol, tc.rt, at)
			err := attest.Refusal(steps)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(steps) != 3 {
					t.Fatalf("%d steps, want 3: %+v", len(steps), steps)
				}
				return
			}
			var v *attest.Verdict
			if !errors.As(err, &v) {
				t.Fatalf("got %v, want a verdict", err)
			}
			if v.Rule != tc.rule || v.Claim != tc.claim || v.Expected != tc.expected || v.Actual != tc.actual {
				t.Fatalf("verdict %+v\nwant rule %q claim %q expected %q actual %q", v, tc.rule, tc.claim, tc.expected, tc.actual)
			}
			if !errors.Is(err, tc.sentinel) || v.Hint == "" || !v.At.Equal(at) {
				t.Fatalf("verdict %+v: sentinel %v, hint and time expected", v, tc.sentinel)
			}
			if len(tc.rt.Collateral) > 0 && !strings.Contains(err.Error(), "tcb_info issued 2026-11-01T00:00:00Z, next update 2026-12-01T00:00:00Z (STALE by 24h0m0s)") {
				t.Fatalf("collateral freshness missing: %v", err)
			}
		})
	}
}

func TestCheckRuntimeExtraPins(t *testing.T) {
	ca := attesttest.NewCA(t)
	m := bytes.Repeat([]byte{0x5a}, 48)
	b := attesttest.PolicyBytes(t, attesttest.PolicyOptions{CACertPEM: ca.PEM(), Runtimes: []attesttest.Runtime{{Platform: "snp", Measurement: m}}})
	b = bytes.Replace(b, []byte(`"platform": "snp"`), []byte(`"platform": "snp", "extra": {"host_data": "`+strings.Repeat("11", 32)+`"}`), 1)
	pol, err := policy.Parse(b, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	rt := attest.Runtime{Platform: "snp", Measurement: m, Extra: map[string][]byte{"host_data": bytes.Repeat([]byte{0x22}, 32)}, FromEvidence: true}
	var v *attest.Verdict
	if err := attest.Refusal(attest.CheckRuntime(pol, rt, time.Now())); !errors.As(err, &v) || v.Claim != "snp host_data" || v.Expected != strings.Repeat("11", 32) || v.Actual != strings.Repeat("22", 32) {
		t.Fatalf("got %v", err)
	}
	// A certificate carries no extra pins: the service checked them.
	rt.FromEvidence = false
	if err := attest.Refusal(attest.CheckRuntime(pol, rt, time.Now())); err != nil {
		t.Fatalf("certificate refused: %v", err)
	}
}

func TestCheckRuntimeUnparsedPolicy(t *testing.T) {
	m := bytes.Repeat([]byte{1}, 32)
	hand := &policy.Policy{Attestation: policy.Attestation{Runtimes: []policy.Runtime{{Platform: "sim", Measurement: hex.EncodeToString(m)}}}}
	for _, pol := range []*policy.Policy{nil, hand} {
		if err := attest.Refusal(attest.CheckRuntime(pol, attest.Runtime{Platform: "sim", Measurement: m}, time.Now())); !errors.Is(err, attest.ErrUntrustedMeasurement) {
			t.Fatalf("policy %v: got %v, want a refusal", pol, err)
		}
		if attest.TrustsMeasurement(pol, "sim", m) {
			t.Fatal("an unparsed policy trusts a measurement")
		}
	}
}

func TestCheckEnclaveTCBAndRevocation(t *testing.T) {
	ca := attesttest.NewCA(t)
	pol, m := rulesPolicy(t, ca)
	issueID := func(id attest.Identity) []pkix.Extension {
		id.PolicyHash = pol.Hash()
		e, err := id.Extension()
		if err != nil {
			t.Fatal(err)
		}
		return []pkix.Extension{e}
	}
	ok := map[string]int{"bootloader": 2, "tee": 1, "snp": 5, "microcode": 68}
	low := map[string]int{"bootloader": 2, "tee": 1, "snp": 5, "microcode": 60}
	for _, tc := range []struct {
		name string
		id   attest.Identity
		want error
	}{
		{"at minimum", attest.Identity{Platform: "snp", Measurement: m["snp"], TCB: ok}, nil},
		{"microcode below", attest.Identity{Platform: "snp", Measurement: m["snp"], TCB: low}, attest.ErrTCBTooLow},
		{"no TCB (older service)", attest.Identity{Platform: "snp", Measurement: m["snp"]}, attest.ErrTCBTooLow},
		{"revoked", attest.Identity{Platform: "snp", Measurement: m["revoked"], TCB: ok}, attest.ErrRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chain := one(issue(t, ca, leafOpts{exts: issueID(tc.id)}))()
			id, err := attest.CheckEnclave(chain, pol, time.Now())
			if tc.want == nil {
				if err != nil || id == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var v *attest.Verdict
			if !errors.Is(err, tc.want) || !errors.As(err, &v) {
				t.Fatalf("got %v, want %v as a verdict", err, tc.want)
			}
			steps, _ := attest.ExplainEnclave(chain, pol, time.Now())
			if last := steps[len(steps)-1]; last.OK() || last.Verdict.Rule != v.Rule {
				t.Fatalf("explain ends with %+v, want the refusal", last)
			}
			for _, s := range steps[:len(steps)-1] {
				if !s.OK() || s.Detail == "" {
					t.Fatalf("step before the refusal %+v", s)
				}
			}
		})
	}
}

func TestVerdictText(t *testing.T) {
	v := &attest.Verdict{Rule: attest.RuleMeasurement, Claim: "sim measurement", Expected: "aa", Actual: "bb\nforged line\x1b[31m", Hint: "start the right build"}
	msg := v.Error()
	if strings.ContainsAny(msg, "\n\x1b") || !strings.HasPrefix(msg, "measurement not trusted by the policy: sim measurement: expected aa, got bb forged line") || !strings.HasSuffix(msg, "(rule measurement)") {
		t.Fatalf("Error() = %q", msg)
	}
	long := &attest.Verdict{Rule: attest.RuleChain, Claim: "c", Expected: strings.Repeat("x", 10000), Actual: "y"}
	if n := len(long.Error()); n > 1200 {
		t.Fatalf("Error() is %d bytes: not bounded", n)
	}
	// Through JSON (as in problem documents) it keeps its rule's sentinel.
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back attest.Verdict
	if err := json.Unmarshal(b, &back); err != nil || !errors.Is(&back, attest.ErrUntrustedMeasurement) || !back.Valid() {
		t.Fatalf("round trip %+v (%v)", back, err)
	}
	if unknown := (&attest.Verdict{Rule: "no-such-rule", Claim: "c"}); unknown.Unwrap() != nil || unknown.Valid() {
		t.Fatal("an unknown rule matched a sentinel")
	}
}

// FuzzVerdictJSON decodes arbitrary bytes as a verdict, as a client does
// with the one in a problem document: whatever decodes renders as one
// bounded line without control characters, and matches a sentinel only
// for a known rule.
func FuzzVerdictJSON(f *testing.F) {
	f.Add([]byte(`{"rule":"minimum-tcb","claim":"snp tcb microcode","expected":"≥ 68","actual":"60","collateral":[{"name":"tcb_info","issued":"2026-01-01T00:00:00Z","next_update":"2026-02-01T00:00:00Z"}],"at":"2026-03-01T00:00:00Z"}`))
	f.Add([]byte(`{"rule":"x","claim":"a\nb\u001b[2J","expected":"","actual":""}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"rule":"chain","claim":"c","collateral":[{"name":"a\nb"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v attest.Verdict
		if json.Unmarshal(b, &v) != nil {
			return
		}
		msg := v.Error()
		control := func(s string) bool {
			return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
		}
		if control(msg) {
			t.Fatalf("control character in %q", msg)
		}
		p := v.Printable()
		for _, s := range []string{p.Rule, p.Claim, p.Expected, p.Actual, p.Hint} {
			if control(s) || len(s) > 600 {
				t.Fatalf("Printable field %q", s)
			}
		}
		for _, c := range p.Collateral {
			if control(c.At(p.At)) {
				t.Fatalf("Printable collateral %q", c.At(p.At))
			}
		}
		if limit := 6*600 + len(v.Collateral)*(2*600+200) + 200; len(msg) > limit {
			t.Fatalf("%d bytes: not bounded", len(msg))
		}
		if v.Valid() != (v.Unwrap() != nil && v.Claim != "") {
			t.Fatalf("Valid %v for rule %q", v.Valid(), v.Rule)
		}
	})
}
