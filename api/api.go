// Package api holds the wire types and paths of the HTTP API the runtime
// serves inside TLS, shared by the runtime and its clients.
//
// Files: PUT PathFiles+path (path without its leading slash) writes,
// POST appends, GET reads; the body is the raw bytes, and a read's response
// carries the header HeaderSHA256 with the hex SHA-256 of the content and
// HeaderCommitment and HeaderSalt with the commitment that the audit log
// and receipts name this version by and the salt that opens it.
// Writes answer 201 (new) or 200 (replaced) with a FileResult. Runs answer
// 200 with a RunResult when the program exited 0, otherwise 422 with a
// Problem of type program-failed whose Result holds the RunResult and its
// receipt. A run before its inputs exist answers 409 not-ready. A pipeline
// answers 200 with a PipelineResult when every step exited 0, otherwise
// 422 program-failed with Pipeline (and Result, the failing step) set.
//
// Audit: GET PathAudit answers a page of the log (query QueryAfter,
// QueryLimit) with a checkpoint signed by the enclave.
//
// Policy: GET PathPolicy answers the current policy's exact bytes with
// HeaderPolicyChain; GET PathPolicyChain the chain of policies; POST
// PathPolicySuccessor a proposal (docs/spec/lifecycle.md). Held files:
// POST PathRelease+path releases one.
//
// Problems: every refusal is an RFC 9457 Problem whose type is one of the
// Problems scheme (ProblemBase + name); ProblemScheme is the helper the
// attestation service's wire package shares.
//
// This package must never contain behaviour: only names and shapes (and
// the lookup of problem names in their scheme).
package api

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/receipt"
)

// Paths of the API.
const (
	PathFiles       = "/v1/files/"
	PathRun         = "/v1/run/"
	PathPipelines   = "/v1/pipelines/"
	PathPolicy      = "/v1/policy"
	PathAttestation = "/v1/attestation"
	PathAudit       = "/v1/audit"
	PathReceipts    = "/v1/receipts"
	PathShutdown    = "/v1/shutdown"
	// PathPolicyChain answers GET with a PolicyChain.
	PathPolicyChain = "/v1/policy/chain"
	// PathPolicySuccessor takes POST of a PolicyProposal and answers a
	// PolicyChange.
	PathPolicySuccessor = "/v1/policy/successor"
	// PathRelease takes POST (body: a ReleaseRequest, or empty) of the
	// file path after it and answers a ReleaseResult.
	PathRelease = "/v1/release/"
)

// HeaderPolicyChain, on the answer to GET PathPolicy, lists the policy
// hashes (hex, comma-separated) from the enclave's first policy to the
// current one.
const HeaderPolicyChain = "X-Truce-Policy-Chain"

// HeaderSHA256 carries the hex SHA-256 of a read file's content.
const HeaderSHA256 = "X-Truce-Sha256"

// HeaderCommitment carries, on a read's answer, the hex commitment the
// audit log and receipts name the version read by; HeaderSalt the hex salt
// that opens it (audit.Open).
const (
	HeaderCommitment = "X-Truce-Commitment"
	HeaderSalt       = "X-Truce-Salt"
)

// Query parameters of GET PathAudit: the entries after sequence number
// QueryAfter (absent: from the first the enclave holds), at most
// QueryLimit of them (absent or 0: audit.DefaultPage; at most
// audit.MaxPage).
const (
	QueryAfter = "after"
	QueryLimit = "limit"
)

// ContentTypeProblem is the media type of error responses (RFC 9457).
const ContentTypeProblem = "application/problem+json"

// MaxOutput is how much of a run's stdout and of its stderr a RunResult
// carries, each.
const MaxOutput = 1 << 20

// FileResult answers a write or an append, and describes a read. SHA256
// is the plain hash of the content, for its writer or reader only (left
// empty, with Salt, in the answer to an append by a principal who may not
// read the file: it holds others' appends too, and Size is then the
// bytes this append added, not the size of the whole);
// Commitment is how the audit log and receipts name this version of the
// file, and Salt (hex) opens it (audit.Open): keep it to check later that
// a receipt names these bytes.
type FileResult struct {
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Commitment string `json:"commitment,omitempty"`
	Salt       string `json:"salt,omitempty"`
}

// RunResult answers a run.
type RunResult struct {
	Program  string          `json:"program"`
	Outcome  string          `json:"outcome"`
	ExitCode uint32          `json:"exit_code"`
	Message  string          `json:"message,omitempty"`
	Stdout   []byte          `json:"stdout,omitempty"`
	Stderr   []byte          `json:"stderr,omitempty"`
	Receipt  receipt.Receipt `json:"receipt"`
}

// PipelineResult answers a pipeline run: the steps that ran, in order, and
// one receipt for the whole pipeline.
type PipelineResult struct {
	Pipeline string          `json:"pipeline"`
	Steps    []RunResult     `json:"steps"`
	Receipt  receipt.Receipt `json:"receipt"`
}

// Attestation answers GET PathAttestation: the evidence the runtime
// produced for its current certificate, the chain, and the nonce it bound.
type Attestation struct {
	Platform string   `json:"platform"`
	Evidence []byte   `json:"evidence"`
	Chain    [][]byte `json:"chain"`
	Nonce    []byte   `json:"nonce"`
}

// Problem is an RFC 9457 problem details object. Result is set for a run
// whose program failed; Pipeline for a pipeline that stopped at a failing
// step (its steps so far and the pipeline's receipt).
type Problem struct {
	Type     string          `json:"type"`
	Title    string          `json:"title"`
	Status   int             `json:"status"`
	Detail   string          `json:"detail"`
	Instance string          `json:"instance,omitempty"`
	Result   *RunResult      `json:"result,omitempty"`
	Pipeline *PipelineResult `json:"pipeline,omitempty"`
}

// Error makes a Problem usable as an error by clients.
func (p *Problem) Error() string {
	if p.Detail != "" {
		return p.Title + ": " + p.Detail
	}
	return p.Title
}

// ProblemBase prefixes every problem type of the runtime's API.
const ProblemBase = "https://truce.invalid/problems/"

// Problem type names (Problem.Type is ProblemBase + name). Problems holds
// the status and title of each.
const (
	ProblemForbidden       = "forbidden"
	ProblemNotFound        = "not-found"
	ProblemHashMismatch    = "hash-mismatch"
	ProblemLimitExceeded   = "limit-exceeded"
	ProblemProgramFailed   = "program-failed"
	ProblemNotReady        = "not-ready"
	ProblemBadRequest      = "bad-request"
	ProblemConflict        = "conflict"
	ProblemUnauthenticated = "unauthenticated"
	// ProblemBudgetExhausted: a run would read data whose budget (runs or
	// time) is spent; nothing ran.
	ProblemBudgetExhausted = "budget-exhausted"
	// ProblemHeld: the file is held until named principals release it.
	ProblemHeld = "held"
	// ProblemSuccessorRefused: a proposed successor policy was refused;
	// the enclave's policy and files are as they were.
	ProblemSuccessorRefused = "successor-refused"
	// ProblemInternal: the runtime failed on the request (a bug or a
	// failure of the enclave, not a refusal by the policy); the request's
	// effects are undone as for any refusal.
	ProblemInternal = "internal"
)

// Problems is the runtime API's problem scheme: the status and title of
// each problem type.
var Problems = NewProblemScheme(ProblemBase, map[string]ProblemType{
	ProblemUnauthenticated:  {Status: http.StatusUnauthorized, Title: "Unauthenticated"},
	ProblemForbidden:        {Status: http.StatusForbidden, Title: "Forbidden by the policy"},
	ProblemBudgetExhausted:  {Status: http.StatusForbidden, Title: "Data-use budget exhausted"},
	ProblemHeld:             {Status: http.StatusForbidden, Title: "Held until released"},
	ProblemSuccessorRefused: {Status: http.StatusForbidden, Title: "Successor policy refused"},
	ProblemNotFound:         {Status: http.StatusNotFound, Title: "Not found"},
	ProblemHashMismatch:     {Status: http.StatusConflict, Title: "Program hash does not match the policy"},
	ProblemConflict:         {Status: http.StatusConflict, Title: "Conflict"},
	ProblemNotReady:         {Status: http.StatusConflict, Also: []int{http.StatusServiceUnavailable}, Title: "Not ready"},
	ProblemLimitExceeded:    {Status: http.StatusRequestEntityTooLarge, Also: []int{http.StatusTooManyRequests}, Title: "Limit exceeded"},
	ProblemProgramFailed:    {Status: http.StatusUnprocessableEntity, Title: "Program failed"},
	ProblemBadRequest:       {Status: http.StatusBadRequest, Also: []int{http.StatusMethodNotAllowed}, Title: "Bad request"},
	ProblemInternal:         {Status: http.StatusInternalServerError, Title: "Runtime failure"},
})

// Name returns the problem's type without ProblemBase, or "" for a type
// outside this API.
func (p *Problem) Name() string { return Problems.Name(p.Type) }

// ProblemType is one problem type of an API: the HTTP status its problems
// answer with and their title.
type ProblemType struct {
	// Status is the HTTP status a problem of the type answers with.
	Status int
	// Also lists the other statuses it may answer with, where HTTP has a
	// more precise code for one case (such as 429 for a rate, 413 for a
	// size).
	Also []int
	// Title is the title of every problem of the type.
	Title string
}

// Allows reports whether a problem of the type may answer with status.
func (t ProblemType) Allows(status int) bool {
	return status == t.Status || slices.Contains(t.Also, status)
}

// ProblemScheme is the problem types of one HTTP API (RFC 9457): a
// problem's type URI is the scheme's base followed by the type's name,
// and the name gives the status and title. The runtime's API has
// Problems; the attestation service's has its own, with another base,
// since the two APIs share names (bad-request, unauthenticated, internal)
// that callers branch on differently.
type ProblemScheme struct {
	base  string
	types map[string]ProblemType
}

// NewProblemScheme returns the scheme of base and types (copied).
func NewProblemScheme(base string, types map[string]ProblemType) ProblemScheme {
	return ProblemScheme{base: base, types: maps.Clone(types)}
}

// Base returns the prefix of every type URI of the scheme.
func (s ProblemScheme) Base() string { return s.base }

// URI returns the type URI of the problem type name.
func (s ProblemScheme) URI(name string) string { return s.base + name }

// Name returns uri without the scheme's base, or "" for a URI outside the
// scheme. The name may still be one the scheme does not list (a newer
// server's): Type says.
func (s ProblemScheme) Name(uri string) string {
	if name, ok := strings.CutPrefix(uri, s.base); ok {
		return name
	}
	return ""
}

// Type returns the problem type name, and whether the scheme lists it.
func (s ProblemScheme) Type(name string) (ProblemType, bool) {
	t, ok := s.types[name]
	return t, ok
}

// Names returns the names of the scheme's problem types, sorted.
func (s ProblemScheme) Names() []string { return slices.Sorted(maps.Keys(s.types)) }

// AuditLog answers GET PathAudit: a page of entries and the hex hash of
// the last entry its checkpoint covers, with the enclave's signed
// checkpoint of the entries it holds up to the page's last (entries
// Checkpoint.From to Checkpoint.Size-1; Checkpoint.Total in all). The
// client's Audit follows the pages and answers all of them as one
// AuditLog whose entries are exactly those its checkpoint covers: check
// it with audit.VerifyCheckpoint.
type AuditLog struct {
	Entries    []audit.Entry     `json:"entries"`
	Head       string            `json:"head"`
	Checkpoint *audit.Checkpoint `json:"checkpoint,omitempty"`
}

// Receipts answers GET PathReceipts: the receipts of the runs and
// pipelines in the audit log that the asking principal may read (see
// policy.MayReadReceipt), in the order of their audit entries.
type Receipts struct {
	Receipts []receipt.Receipt `json:"receipts"`
}

// PolicyApproval is one principal's signature approving a successor: an
// ASN.1 ECDSA P-256 signature by the key of the principal's certificate
// in the base policy (see package succession for the message).
type PolicyApproval struct {
	Signer    string `json:"signer"`
	Signature []byte `json:"signature"`
}

// PolicyProposal proposes Policy (exact bytes) as the successor of Base
// (exact bytes), with the approvals gathered so far. It is both the file
// truce policy propose writes and the body of POST PathPolicySuccessor.
type PolicyProposal struct {
	Version   int              `json:"version"`
	Base      []byte           `json:"base"`
	Policy    []byte           `json:"policy"`
	Approvals []PolicyApproval `json:"approvals"`
}

// PolicyLink is one policy of an enclave's chain: its exact bytes, its
// hash, and the approvals that made it succeed the previous link (none
// for the first).
type PolicyLink struct {
	SHA256    string           `json:"sha256"`
	Policy    []byte           `json:"policy"`
	Approvals []PolicyApproval `json:"approvals"`
}

// PolicyChain answers GET PathPolicyChain: every policy the enclave has
// enforced, first to current.
type PolicyChain struct {
	Links []PolicyLink `json:"links"`
}

// PolicyChange answers an accepted successor.
type PolicyChange struct {
	Previous string   `json:"previous"`
	Current  string   `json:"current"`
	Sequence int      `json:"sequence"`
	Chain    []string `json:"chain"`
	Carried  int      `json:"carried"`
	Wiped    int      `json:"wiped"`
}

// ReleaseRequest may name the content being released by its commitment
// (as the receipt of the run that wrote it names it): the release is then
// refused if the held file holds another version.
type ReleaseRequest struct {
	Commitment string `json:"commitment,omitempty"`
}

// ReleaseResult answers a release: who has released this content of the
// file, and who has yet to.
type ReleaseResult struct {
	Path       string   `json:"path"`
	Commitment string   `json:"commitment"`
	ReleasedBy []string `json:"released_by"`
	Pending    []string `json:"pending"`
}
