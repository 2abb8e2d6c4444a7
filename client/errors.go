package client

import (
	"errors"
	"fmt"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
)

// Errors callers branch on. A *ProblemError from the enclave matches the
// sentinel of its problem type with errors.Is.
var (
	// ErrForbidden: the policy grants the caller no such right there.
	ErrForbidden = errors.New("forbidden by the policy")
	// ErrNotFound: no such file, program or pipeline.
	ErrNotFound = errors.New("not found")
	// ErrHashMismatch: a program's bytes are not those the policy pins.
	ErrHashMismatch = errors.New("content does not match the hash the policy pins")
	// ErrLimitExceeded: a size, memory or time limit of the policy.
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrProgramFailed: the program ran and failed; the result is attached.
	ErrProgramFailed = errors.New("program failed")
	// ErrNotReady: a program's inputs are not all uploaded yet.
	ErrNotReady = errors.New("not ready")
	// ErrBadRequest: the request is malformed (such as a bad path).
	ErrBadRequest = errors.New("bad request")
	// ErrConflict: the request conflicts with the enclave's state.
	ErrConflict = errors.New("conflict")
	// ErrUnauthenticated: the enclave refused the client's certificate.
	ErrUnauthenticated = errors.New("client certificate is not a principal of the policy")

	// ErrBudgetExhausted: a run would read data whose budget is spent.
	ErrBudgetExhausted = errors.New("data-use budget exhausted")
	// ErrHeld: the file is held until named principals release it.
	ErrHeld = errors.New("held until released")
	// ErrSuccessorRefused: the enclave refused a proposed successor policy.
	ErrSuccessorRefused = errors.New("successor policy refused")
	// ErrInternal: the enclave's runtime failed on the request (not a
	// refusal by the policy); the request changed nothing.
	ErrInternal = errors.New("the enclave's runtime failed")

	// ErrPolicyMismatch: the enclave runs a policy other than the caller's.
	// It is attest.ErrPolicyMismatch, so that errors.Is matches either
	// name whether the refusal came from the certificate check or from
	// the policy chain.
	ErrPolicyMismatch = attest.ErrPolicyMismatch
	// ErrPolicyExpired: the caller's policy has expired.
	ErrPolicyExpired = errors.New("policy expired")
	// ErrUnreachable: the host could not be reached.
	ErrUnreachable = errors.New("cannot reach the host")
	// ErrIntegrity: a transfer's content does not match the hash the
	// enclave announced or stored.
	ErrIntegrity = errors.New("content hash mismatch in transfer")
)

// sentinels gives the sentinel of each problem type of api.Problems.
var sentinels = map[string]error{
	api.ProblemForbidden:        ErrForbidden,
	api.ProblemNotFound:         ErrNotFound,
	api.ProblemHashMismatch:     ErrHashMismatch,
	api.ProblemLimitExceeded:    ErrLimitExceeded,
	api.ProblemProgramFailed:    ErrProgramFailed,
	api.ProblemNotReady:         ErrNotReady,
	api.ProblemBadRequest:       ErrBadRequest,
	api.ProblemConflict:         ErrConflict,
	api.ProblemUnauthenticated:  ErrUnauthenticated,
	api.ProblemBudgetExhausted:  ErrBudgetExhausted,
	api.ProblemHeld:             ErrHeld,
	api.ProblemSuccessorRefused: ErrSuccessorRefused,
	api.ProblemInternal:         ErrInternal,
}

// ProblemError is an error answer of the enclave (RFC 9457 problem).
type ProblemError struct {
	// Type is the problem's type URI; Name is it without the base of
	// api.Problems ("" for a type outside the runtime's API).
	Type, Name string
	// Status is the HTTP status.
	Status int
	// Title and Detail say what went wrong.
	Title, Detail string
	// Method and Path are the request's.
	Method, Path string
	// Result is a failed run's result and receipt, if any.
	Result *api.RunResult
}

// Error says what was refused and why.
func (e *ProblemError) Error() string {
	what := e.Title
	if e.Detail != "" {
		what += ": " + e.Detail
	}
	return fmt.Sprintf("%s %s: %s (%d)", e.Method, e.Path, what, e.Status)
}

// Is matches the sentinel of the problem's type, such as ErrForbidden.
func (e *ProblemError) Is(target error) bool {
	s, ok := sentinels[e.Name]
	return ok && s == target
}

// Hint says what a user may do about err, or "" if nothing specific.
func Hint(err error) string {
	switch {
	case errors.Is(err, ErrForbidden):
		return "the policy does not grant your identity this right on this path: check its capabilities with \"truce policy check\""
	case errors.Is(err, ErrNotFound):
		return "the file does not exist in the enclave yet: upload it first, or check the path"
	case errors.Is(err, ErrHashMismatch):
		return "the policy pins another hash for this program: upload exactly the file whose SHA-256 the policy lists"
	case errors.Is(err, ErrNotReady):
		return "the program's inputs are not all uploaded yet: upload them and run again"
	case errors.Is(err, ErrUnauthenticated):
		return "use the certificate and key of a principal the policy lists (--identity, --key)"
	case errors.Is(err, ErrEnclaveChanged):
		return "the host started the enclave again since you last met it (or since this session began): whatever was uploaded before is gone, data-use budgets start afresh and the audit log is new; list the instances the attestation service certified with \"truce pas log --policy HASH\", and ask the host why"
	case errors.Is(err, ErrKnownEnclavesFull):
		return "the record of the enclaves you met keeps one pinned instance per policy and holds as many as it may: remove the lines of policies you no longer use from the file named above, then connect again"
	case errors.Is(err, ErrPolicyMismatch):
		return "the enclave runs another policy: check that you have the policy file the host was started with"
	case errors.Is(err, ErrPolicyExpired):
		return "the policy has expired: agree on a new one with a later \"expires\""
	case errors.Is(err, ErrUnreachable):
		return "check that \"truce host serve\" is running and that the policy's host address is right"
	case errors.Is(err, ErrLimitExceeded):
		return "the request exceeds a limit of the policy (file or total size, memory, time)"
	case errors.Is(err, ErrProgramFailed):
		return "the program ran and exited non-zero: see its stderr above"
	case errors.Is(err, ErrBudgetExhausted):
		return "the data's owner allowed it to feed only so many runs, or only until a time: nothing ran; ask the owner for a successor policy with a new budget"
	case errors.Is(err, ErrHeld):
		return "the result waits for the principals named above to release it (truce release PATH): read it again once they have"
	case errors.Is(err, ErrInternal):
		return "the enclave's runtime failed on this request and nothing changed: try again, and if it fails again ask the host's operator for the runtime's log"
	case errors.Is(err, ErrSuccessorRefused):
		return "nothing changed in the enclave: gather the approvals the current policy's quorum needs (truce policy sign) on a proposal against the current policy (truce policy propose)"
	}
	return ""
}
