package paswire

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
)

// ProblemBase starts the type URI of every problem the service returns;
// the rest is one of the Problem* names below. They are stable.
const ProblemBase = "tag:truce-project.org,2026:pas/"

// Problem types (the part after ProblemBase).
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

// Sentinel errors of the service's refusals; attest's sentinels are used
// for evidence problems.
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
	// ErrUnauthenticated: the credential presented is not one of the
	// service's hosts.
	ErrUnauthenticated = errors.New("host credential not accepted")
	// ErrSecondInstance: the policy allows one enclave instance
	// (attestation.single_instance), and the service certified another
	// enclave key for it already.
	ErrSecondInstance = errors.New("policy allows one enclave instance, and another is certified")
	// ErrService: the service failed, or answered something unexpected.
	ErrService = errors.New("attestation service failed")
)

// problemKind is one row of the service's problem table.
type problemKind struct {
	api.ProblemType
	err error // the sentinel a *ProblemError of the type wraps
}

// kinds is the service's one problem table: name → status, title and
// sentinel.
var kinds = map[string]problemKind{
	ProblemBadRequest:           {api.ProblemType{Status: http.StatusBadRequest, Also: []int{http.StatusNotFound, http.StatusMethodNotAllowed}, Title: "Malformed request"}, ErrRequest},
	ProblemBadNonce:             {api.ProblemType{Status: http.StatusForbidden, Title: "Nonce unknown, already used or expired"}, ErrNonce},
	ProblemBadCSR:               {api.ProblemType{Status: http.StatusBadRequest, Title: "Certificate signing request refused"}, ErrCSR},
	ProblemBadPolicy:            {api.ProblemType{Status: http.StatusUnprocessableEntity, Title: "Policy refused"}, ErrPolicy},
	ProblemUnsupportedPlatform:  {api.ProblemType{Status: http.StatusForbidden, Title: "Platform not accepted by this service"}, attest.ErrUnsupportedPlatform},
	ProblemBadEvidence:          {api.ProblemType{Status: http.StatusForbidden, Title: "Evidence does not verify"}, attest.ErrBadEvidence},
	ProblemBinding:              {api.ProblemType{Status: http.StatusForbidden, Title: "Evidence bound to another key, policy or nonce"}, attest.ErrBinding},
	ProblemUntrustedMeasurement: {api.ProblemType{Status: http.StatusForbidden, Title: "Measurement not trusted by the policy"}, attest.ErrUntrustedMeasurement},
	ProblemRevoked:              {api.ProblemType{Status: http.StatusForbidden, Title: "Measurement revoked by the policy"}, attest.ErrRevoked},
	ProblemTCB:                  {api.ProblemType{Status: http.StatusForbidden, Title: "TCB below the policy's minimum"}, attest.ErrTCBTooLow},
	ProblemBusy:                 {api.ProblemType{Status: http.StatusServiceUnavailable, Title: "Service busy"}, ErrBusy},
	ProblemRateLimited:          {api.ProblemType{Status: http.StatusTooManyRequests, Title: "Too many nonces asked for"}, ErrRateLimited},
	ProblemUnauthenticated:      {api.ProblemType{Status: http.StatusUnauthorized, Title: "Host credential not accepted"}, ErrUnauthenticated},
	ProblemSecondInstance:       {api.ProblemType{Status: http.StatusConflict, Title: "The policy allows one enclave instance, and another one is certified"}, ErrSecondInstance},
	ProblemInternal:             {api.ProblemType{Status: http.StatusInternalServerError, Title: "Service failure; nothing was issued"}, ErrService},
}

// Problems is the service's problem scheme, made from the same table.
var Problems = schemeOf(kinds)

func schemeOf(k map[string]problemKind) api.ProblemScheme {
	types := make(map[string]api.ProblemType, len(k))
	for name, row := range k {
		types[name] = row.ProblemType
	}
	return api.NewProblemScheme(ProblemBase, types)
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

// NewProblem returns the problem of type kind (a Problem* name) with the
// status and title of its type, and detail.
func NewProblem(kind, detail string) *ProblemError {
	t, _ := Problems.Type(kind)
	return &ProblemError{Type: Problems.URI(kind), Title: t.Title, Status: t.Status, Detail: detail}
}

// Kind returns the type without ProblemBase, such as "bad-nonce", or the
// whole type for one outside the service's scheme.
func (p *ProblemError) Kind() string {
	if k := Problems.Name(p.Type); k != "" {
		return k
	}
	return p.Type
}

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
	e := ErrService
	if row, ok := kinds[p.Kind()]; ok {
		e = row.err
	}
	if p.Verdict.Valid() {
		return []error{e, p.Verdict}
	}
	return []error{e}
}
