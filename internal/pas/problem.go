package pas

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/truce-project/truce/attest"
)

// ProblemTypePrefix starts the type URI of every problem the service
// returns; the rest is one of the Problem* names below. They are stable.
const ProblemTypePrefix = "tag:truce-project.org,2026:pas/"

// Problem types (the part after ProblemTypePrefix).
const (
	ProblemBadRequest           = "bad-request"           // malformed request
	ProblemBadNonce             = "bad-nonce"             // nonce unknown, used or expired
	ProblemBadCSR               = "bad-csr"               // CSR malformed, badly signed or of an unusable key type
	ProblemBadPolicy            = "bad-policy"            // policy does not parse or has expired
	ProblemUnsupportedPlatform  = "unsupported-platform"  // platform unknown, or sim without --allow-sim
	ProblemBadEvidence          = "bad-evidence"          // evidence does not verify
	ProblemBinding              = "binding-mismatch"      // report data does not bind CSR key, policy and nonce
	ProblemUntrustedMeasurement = "untrusted-measurement" // measurement not listed in the policy
	ProblemRevoked              = "revoked-measurement"   // measurement revoked by the policy
	ProblemTCB                  = "tcb-too-low"           // a TCB component below the policy's minimum
	ProblemBusy                 = "busy"                  // too many outstanding nonces; retry later
	ProblemRateLimited          = "rate-limited"          // this caller asked for nonces too fast, or holds its share of attestation turns; retry later
	ProblemUnauthenticated      = "unauthenticated"       // the host credential is not accepted
	ProblemSecondInstance       = "second-instance"       // the policy allows one enclave, and another was certified
	ProblemInternal             = "internal"              // the service failed; nothing was issued
)

// Sentinel errors of this package; attest's sentinels are used for
// evidence problems.
var (
	// ErrNonce: the nonce is unknown, was used already or has expired.
	ErrNonce = errors.New("nonce unknown, already used or expired")
	// ErrCSR: the certificate signing request is unusable.
	ErrCSR = errors.New("certificate signing request refused")
	// ErrPolicy: the policy sent does not parse or has expired.
	ErrPolicy = errors.New("policy refused")
	// ErrRequest: the request is malformed.
	ErrRequest = errors.New("malformed request")
	// ErrBusy: the service is overloaded; retry later.
	ErrBusy = errors.New("attestation service busy")
	// ErrRateLimited: this caller asked for nonces faster than the
	// service allows it, or (a host) has as many attestation requests in
	// progress as one host may; retry after ProblemError.RetryAfter.
	ErrRateLimited = errors.New("attestation service rate limit")
	// ErrService: the service failed, or answered something unexpected.
	ErrService = errors.New("attestation service failed")
)

var problemErrors = map[string]error{
	ProblemBadRequest:           ErrRequest,
	ProblemBadNonce:             ErrNonce,
	ProblemBadCSR:               ErrCSR,
	ProblemBadPolicy:            ErrPolicy,
	ProblemUnsupportedPlatform:  attest.ErrUnsupportedPlatform,
	ProblemBadEvidence:          attest.ErrBadEvidence,
	ProblemBinding:              attest.ErrBinding,
	ProblemUntrustedMeasurement: attest.ErrUntrustedMeasurement,
	ProblemRevoked:              attest.ErrRevoked,
	ProblemTCB:                  attest.ErrTCBTooLow,
	ProblemBusy:                 ErrBusy,
	ProblemRateLimited:          ErrRateLimited,
	ProblemUnauthenticated:      ErrUnauthenticated,
	ProblemSecondInstance:       ErrSecondInstance,
	ProblemInternal:             ErrService,
}

var problemStatus = map[string]int{
	ProblemBadRequest:           http.StatusBadRequest,
	ProblemBadNonce:             http.StatusForbidden,
	ProblemBadCSR:               http.StatusBadRequest,
	ProblemBadPolicy:            http.StatusUnprocessableEntity,
	ProblemUnsupportedPlatform:  http.StatusForbidden,
	ProblemBadEvidence:          http.StatusForbidden,
	ProblemBinding:              http.StatusForbidden,
	ProblemUntrustedMeasurement: http.StatusForbidden,
	ProblemRevoked:              http.StatusForbidden,
	ProblemTCB:                  http.StatusForbidden,
	ProblemBusy:                 http.StatusServiceUnavailable,
	ProblemRateLimited:          http.StatusTooManyRequests,
	ProblemUnauthenticated:      http.StatusUnauthorized,
	ProblemSecondInstance:       http.StatusConflict,
	ProblemInternal:             http.StatusInternalServerError,
}

var problemTitles = map[string]string{
	ProblemBadRequest:           "Malformed request",
	ProblemBadNonce:             "Nonce unknown, already used or expired",
	ProblemBadCSR:               "Certificate signing request refused",
	ProblemBadPolicy:            "Policy refused",
	ProblemUnsupportedPlatform:  "Platform not accepted by this service",
	ProblemBadEvidence:          "Evidence does not verify",
	ProblemBinding:              "Evidence bound to another key, policy or nonce",
	ProblemUntrustedMeasurement: "Measurement not trusted by the policy",
	ProblemRevoked:              "Measurement revoked by the policy",
	ProblemTCB:                  "TCB below the policy's minimum",
	ProblemBusy:                 "Service busy",
	ProblemRateLimited:          "Too many nonces asked for",
	ProblemUnauthenticated:      "Host credential not accepted",
	ProblemSecondInstance:       "The policy allows one enclave instance, and another one is certified",
	ProblemInternal:             "Service failure; nothing was issued",
}

// ProblemError is an RFC 9457 problem the service answered. It wraps the
// sentinel error for its type, so callers branch with errors.Is, and, for
// a refusal of the evidence, the attest.Verdict saying which claim failed
// which rule, so callers get it with errors.As.
type ProblemError struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Verdict is the structured refusal of evidence (an extension
	// member of the problem); nil for other problems.
	Verdict *attest.Verdict `json:"verdict,omitempty"`
	// RetryAfter is when to try again (the Retry-After header), for busy
	// and rate-limited; zero if the service did not say.
	RetryAfter time.Duration `json:"-"`
}

// Kind returns the type without ProblemTypePrefix, such as "bad-nonce".
func (p *ProblemError) Kind() string { return strings.TrimPrefix(p.Type, ProblemTypePrefix) }

func (p *ProblemError) Error() string {
	msg := p.Title
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	return fmt.Sprintf("attestation service refused (%s): %s", p.Kind(), msg)
}

// Unwrap returns the sentinel error of the problem's type (ErrService for
// types this package does not know) and the verdict, if the problem
// carries a valid one.
func (p *ProblemError) Unwrap() []error {
	e, ok := problemErrors[p.Kind()]
	if !ok {
		e = ErrService
	}
	if p.Verdict.Valid() {
		return []error{e, p.Verdict}
	}
	return []error{e}
}

func newProblem(kind, detail string) *ProblemError {
	return &ProblemError{Type: ProblemTypePrefix + kind, Title: problemTitles[kind], Status: problemStatus[kind], Detail: detail}
}

// verdictKinds gives the problem type of each rule the service refuses
// evidence by.
var verdictKinds = map[string]string{
	attest.RulePlatform:    ProblemBadEvidence,
	attest.RuleEvidence:    ProblemBadEvidence,
	attest.RuleBinding:     ProblemBinding,
	attest.RuleRevoked:     ProblemRevoked,
	attest.RuleMeasurement: ProblemUntrustedMeasurement,
	attest.RuleMinimumTCB:  ProblemTCB,
}

// verdictProblem is the problem of a refusal of evidence: the verdict's
// summary as the detail (the title names the rule), and the verdict itself.
func verdictProblem(v *attest.Verdict) *ProblemError {
	kind, ok := verdictKinds[v.Rule]
	if !ok {
		kind = ProblemBadEvidence
	}
	p := newProblem(kind, v.Summary())
	p.Verdict = v
	return p
}

func writeProblem(w http.ResponseWriter, p *ProblemError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(p.RetryAfter.Seconds())), 10))
	} else if p.Status == http.StatusServiceUnavailable || p.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
