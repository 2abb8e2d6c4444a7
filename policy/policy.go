package policy

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
)

// Version is the only policy format version this package reads.
const Version = 1

// Policy is a parsed and validated policy. Obtain one from Parse; the zero
// value and values built by hand answer every question with "no" until
// they are encoded and parsed.
type Policy struct {
	// Version of the format; must be 1.
	Version int `json:"version"`
	// Name of the computation, for people.
	Name string `json:"name"`
	// Expires is when the policy, and every enclave certificate issued
	// under it, stops being valid.
	Expires time.Time `json:"expires"`
	// Host is host:port where clients dial the enclave.
	Host string `json:"host"`
	// Attestation says which attestation service and which enclaves are
	// trusted.
	Attestation Attestation `json:"attestation"`
	// Principals are the parties and what each may do.
	Principals []Principal `json:"principals"`
	// Programs are the programs that may run, pinned by hash, with the
	// rights each has while running.
	Programs []Program `json:"programs"`
	// Pipelines are named sequences of programs run one after another.
	Pipelines []Pipeline `json:"pipelines,omitempty"`
	// Limits bound each run and the enclave's file system.
	Limits Limits `json:"limits"`
	// Holds keep outputs unreadable until named principals release them.
	Holds []Hold `json:"holds,omitempty"`
	// Lifecycle says whether and how the policy may be succeeded by
	// another while the enclave runs; absent, it never changes. See
	// docs/spec/lifecycle.md.
	Lifecycle *Lifecycle `json:"lifecycle,omitempty"`

	raw       []byte
	hash      [32]byte
	ca        *x509.Certificate
	parsed    bool
	progPaths []string // sorted program paths, built while validating
}

// Attestation names the attestation service and the trusted enclaves.
type Attestation struct {
	// Service is the URL (https://…) of the proxy attestation service.
	Service string `json:"service"`
	// CACert is the PEM certificate of the service's CA; enclave
	// certificates must chain to it.
	CACert string `json:"ca_cert"`
	// Runtimes are the enclave measurements trusted, per platform.
	Runtimes []Runtime `json:"runtimes"`
	// MinimumTCB is, per platform, the lowest value accepted of each TCB
	// component named (see platform.Spec.TCB for the names): evidence, or
	// an enclave certificate, with any named component below it is
	// refused. Platforms left out, and components not named, are not
	// checked.
	MinimumTCB map[string]TCB `json:"minimum_tcb,omitempty"`
	// Revoked are runtime measurements never accepted, whatever else the
	// policy says; a revoked measurement may not also be listed in
	// Runtimes.
	Revoked []Revocation `json:"revoked,omitempty"`
	// SingleInstance allows one enclave instance only: the attestation
	// service certifies the enclave key it certified first for this
	// policy (renewals included) and refuses any other, so a host cannot
	// restart the enclave to start afresh (reset budgets, wipe its audit
	// log). Only the first policy of a chain counts: it is the one
	// enclave certificates bind.
	SingleInstance bool `json:"single_instance,omitempty"`
}

// TCB maps TCB component names, such as "microcode" for snp, to security
// version numbers.
type TCB map[string]int

// Revocation is one runtime measurement that is never accepted.
type Revocation struct {
	// Platform is the platform of the measurement.
	Platform string `json:"platform"`
	// Measurement is the hex of the revoked measurement, as in Runtime.
	Measurement string `json:"measurement"`
	// Reason says why, for people (such as an advisory's name).
	Reason string `json:"reason,omitempty"`
}

// Runtime is one trusted enclave build on one platform.
type Runtime struct {
	// Platform is one of sim, nitro, snp, tdx, sgx, cca, psa.
	Platform string `json:"platform"`
	// Measurement is the hex of the platform's main measurement: for sim
	// the SHA-256 of the runtime executable, for nitro PCR0, for snp the
	// launch MEASUREMENT, for tdx MRTD, for sgx MRENCLAVE, for cca the
	// realm initial measurement, for psa the software measurement.
	Measurement string `json:"measurement"`
	// Extra are further pins, hex, by name; which names each platform
	// allows is listed by ExtraPins. Evidence must match every extra pin
	// given.
	Extra map[string]string `json:"extra,omitempty"`
}

// Principal is one party of the computation.
type Principal struct {
	// Name is how the party is called in the policy, audit log and receipts.
	Name string `json:"name"`
	// Cert is the party's PEM certificate, matched exactly against the TLS
	// client certificate.
	Cert string `json:"cert"`
	// Capabilities are the rights of the party on paths.
	Capabilities capability.Set `json:"capabilities"`
	// Budgets limit how often, and until when, the data under some of the
	// party's write or append grants may feed runs: the key is the grant
	// path, exactly as in Capabilities.
	Budgets map[string]Budget `json:"budgets,omitempty"`

	cert *x509.Certificate
}

// Budget limits the use of a data owner's input. At least one field is
// set; Once and MaxRuns are not given together.
type Budget struct {
	// MaxRuns is how many runs may read the data (0: no count limit).
	MaxRuns int `json:"max_runs,omitempty"`
	// NotAfter is when the data stops feeding runs (nil: no time limit).
	NotAfter *time.Time `json:"not_after,omitempty"`
	// Once is MaxRuns 1: the data feeds one run and no other.
	Once bool `json:"once,omitempty"`
}

// Limit is the number of runs the budget allows, 0 meaning no limit.
func (b Budget) Limit() int {
	if b.Once {
		return 1
	}
	return b.MaxRuns
}

// Hold keeps files at or below Path unreadable by everyone until each
// principal in ReleaseBy has released their current content.
type Hold struct {
	// Path is a file, or a directory ending in "/".
	Path string `json:"path"`
	// ReleaseBy names the principals whose release is needed.
	ReleaseBy []string `json:"release_by"`
}

// Lifecycle holds the rules of succession of a policy.
type Lifecycle struct {
	// Quorum is who must approve a successor of this policy; nil means
	// this policy has no successor.
	Quorum *Quorum `json:"quorum,omitempty"`
	// Predecessor names the policy this one succeeds; nil for a first
	// policy, the one an enclave starts with.
	Predecessor *Predecessor `json:"predecessor,omitempty"`
	// CarryOver lists the paths (files, or directories ending in "/")
	// whose files the enclave keeps when this policy succeeds its
	// predecessor; every other file is wiped. Only with Predecessor.
	CarryOver []string `json:"carry_over,omitempty"`
}

// Quorum is a threshold rule: Threshold distinct principals named in Of.
type Quorum struct {
	// Threshold is how many distinct approvals are needed.
	Threshold int `json:"threshold"`
	// Of names the principals who may approve.
	Of []string `json:"of"`
}

// Predecessor names the place of a successor policy in its chain.
type Predecessor struct {
	// Genesis is the hex policy hash of the chain's first policy, the one
	// the enclave's certificate binds.
	Genesis string `json:"genesis"`
	// Policy is the hex policy hash of the policy this one succeeds.
	Policy string `json:"policy"`
	// Sequence is this policy's place in the chain: 1 for the first
	// successor.
	Sequence int `json:"sequence"`
}

// Program is a program that may run in the enclave.
type Program struct {
	// Path is where the program is uploaded in the enclave file system.
	Path string `json:"path"`
	// SHA256 is the hex SHA-256 of the program's bytes; other bytes are
	// refused.
	SHA256 string `json:"sha256"`
	// Capabilities are the rights of the running program (r and w only).
	Capabilities capability.Set `json:"capabilities"`
	// NativeModules names the native modules (trusted host functions of
	// the runtime, such as "truce_crypto") the program may import; a
	// program importing one not listed is refused before it starts.
	NativeModules []string `json:"native_modules,omitempty"`

	hash [32]byte
}

// Pipeline is a named sequence of programs.
type Pipeline struct {
	// Name identifies the pipeline in requests.
	Name string `json:"name"`
	// Steps are program paths, run in order.
	Steps []string `json:"steps"`
}

// Limits bound runs and storage. Zero means the default.
type Limits struct {
	// MemoryMiB is the most linear memory a program may use (default 256).
	MemoryMiB int `json:"memory_mib,omitempty"`
	// ExecSeconds is the longest a run may take (default 60).
	ExecSeconds int `json:"exec_seconds,omitempty"`
	// FileMiB is the largest a single file may grow (default 1024).
	FileMiB int `json:"file_mib,omitempty"`
	// TotalMiB is the most the whole file system may hold (default 4096).
	TotalMiB int `json:"total_mib,omitempty"`
}

// Defaults and maxima of the limits.
const (
	DefaultMemoryMiB   = 256
	DefaultExecSeconds = 60
	DefaultFileMiB     = 1024
	DefaultTotalMiB    = 4096

	MaxMemoryMiB   = 4096    // a 32-bit WebAssembly memory holds at most 4 GiB
	MaxExecSeconds = 86400   // one day
	MaxTotalMiB    = 1 << 20 // 1 TiB
)

const mib = 1 << 20

func orDefault(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

// Memory is the memory limit in bytes, default applied.
func (l Limits) Memory() int64 { return int64(orDefault(l.MemoryMiB, DefaultMemoryMiB)) * mib }

// Exec is the run time limit, default applied.
func (l Limits) Exec() time.Duration {
	return time.Duration(orDefault(l.ExecSeconds, DefaultExecSeconds)) * time.Second
}

// File is the per-file size limit in bytes, default applied.
func (l Limits) File() int64 { return int64(orDefault(l.FileMiB, DefaultFileMiB)) * mib }

// Total is the file system size limit in bytes, default applied.
func (l Limits) Total() int64 { return int64(orDefault(l.TotalMiB, DefaultTotalMiB)) * mib }

// Problem is one thing wrong with a policy: where (a JSON path such as
// principals[1].capabilities["/input/"], empty for the whole file) and what.
type Problem struct {
	// Path is the JSON path of the value at fault, such as
	// principals[1].cert; empty for the file as a whole.
	Path string
	// Msg says what is wrong and, where it can, what to do.
	Msg string
}

// String writes the problem as "path: message".
func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// ValidationError lists every problem found in a policy.
type ValidationError struct {
	Problems []Problem
}

// ErrInvalid is matched by every *ValidationError (errors.Is).
var ErrInvalid = errors.New("invalid policy")

// Error lists the problems, one per line after the first.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid policy: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid policy: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// problems collects problems; semantic ones under a path that already has a
// structural problem are dropped, as they would only repeat it.
type problems struct {
	list []Problem
	bad  []string
}

func (ps *problems) structural(path, msg string) {
	ps.list = append(ps.list, Problem{path, msg})
	ps.bad = append(ps.bad, path)
}

func (ps *problems) add(path, format string, a ...any) {
	for _, b := range ps.bad {
		if path == b || b == "" || strings.HasPrefix(path, b) && len(path) > len(b) && (path[len(b)] == '.' || path[len(b)] == '[') {
			return
		}
	}
	ps.list = append(ps.list, Problem{path, fmt.Sprintf(format, a...)})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list}
}

// Hash returns the SHA-256 of policy bytes: the policy hash.
func Hash(data []byte) [32]byte { return sha256.Sum256(data) }

// Parse parses and validates policy bytes strictly, as of now (a zero now
// means the current time): Decode and ValidAt in one, every problem of
// both listed. On failure the error is a *ValidationError listing every
// problem found.
func Parse(data []byte, now time.Time) (*Policy, error) {
	if now.IsZero() {
		now = time.Now()
	}
	return parse(data, now)
}

// Decode parses and validates policy bytes strictly, except for what
// depends on the time: whether the policy or a certificate it holds has
// expired (ValidAt checks that). It is for policies judged as of another
// time than now, such as the one a receipt was made under. On failure the
// error is a *ValidationError listing every problem found.
func Decode(data []byte) (*Policy, error) { return parse(data, time.Time{}) }

// parse is Parse as of now, or Decode for a zero now.
func parse(data []byte, now time.Time) (*Policy, error) {
	ps := &problems{}
	tree, prob := parseTree(data)
	if prob != nil {
		ps.structural(prob.Path, prob.Msg)
		return nil, ps.err()
	}
	p := &Policy{}
	decodeInto(tree, reflect.ValueOf(p).Elem(), "", ps)
	p.validate(now, ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	p.raw = bytes.Clone(data)
	p.hash = Hash(data)
	p.parsed = true
	return p, nil
}

// ValidAt checks that a decoded policy holds at now: it has not expired,
// nor has the attestation service's CA or any principal's certificate. The
// error is a *ValidationError.
func (p *Policy) ValidAt(now time.Time) error {
	ps := &problems{}
	p.validAt(now, ps)
	return ps.err()
}

// Bytes returns the exact bytes parsed. The caller must not modify them.
func (p *Policy) Bytes() []byte { return p.raw }

// Hash returns the policy hash: the SHA-256 of Bytes.
func (p *Policy) Hash() [32]byte { return p.hash }

// GenesisHash returns the hash of the first policy of p's chain: p's own
// hash for a policy without predecessor. An enclave's certificate binds
// this hash, and clients route to the enclave by it.
func (p *Policy) GenesisHash() [32]byte {
	if lc := p.Lifecycle; lc != nil && lc.Predecessor != nil {
		var h [32]byte
		if b, err := hex.DecodeString(lc.Predecessor.Genesis); err == nil && len(b) == 32 {
			copy(h[:], b)
			return h
		}
	}
	return p.hash
}

// ServerNameSuffix ends the TLS server name of every enclave (see
// Policy.ServerName).
const ServerNameSuffix = ".truce"

// ServerName returns the TLS server name (SNI) of the enclave serving p's
// chain: the first 16 hex digits of GenesisHash followed by
// ServerNameSuffix. Clients send it and hosts route on it, so that a host
// serving several enclaves on one port reaches the right one. A successor
// policy has the name of its chain's first policy: the enclave enforcing
// it is the one that started with that policy, and clients of every
// policy of the chain reach it by the same name.
func (p *Policy) ServerName() string {
	g := p.GenesisHash()
	return hex.EncodeToString(g[:8]) + ServerNameSuffix
}

// Sequence is p's place in its chain: 0 for a first policy.
func (p *Policy) Sequence() int {
	if lc := p.Lifecycle; lc != nil && lc.Predecessor != nil {
		return lc.Predecessor.Sequence
	}
	return 0
}

// Quorum returns the rule approving p's successors, or nil when p may not
// be succeeded.
func (p *Policy) Quorum() *Quorum {
	if p.Lifecycle == nil {
		return nil
	}
	return p.Lifecycle.Quorum
}

// Carries reports whether p, as a successor, keeps the file at path.
func (p *Policy) Carries(path string) bool {
	if p.Lifecycle == nil {
		return false
	}
	for _, g := range p.Lifecycle.CarryOver {
		if capability.Covers(g, path) {
			return true
		}
	}
	return false
}

// Overlaps reports whether two grant paths share a file: one covers the
// other, or they are the same.
func Overlaps(a, b string) bool {
	return capability.Covers(a, strings.TrimSuffix(b, "/")) || capability.Covers(b, strings.TrimSuffix(a, "/")) || a == b
}

// HoldersOf returns the principals whose release the file at path needs,
// sorted and without repeats; none when no hold covers it.
func (p *Policy) HoldersOf(path string) []string {
	var out []string
	for _, h := range p.Holds {
		if capability.Covers(h.Path, path) {
			out = append(out, h.ReleaseBy...)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// HashHex returns the policy hash in lower-case hex.
func (p *Policy) HashHex() string { return hex.EncodeToString(p.hash[:]) }

// Principal returns the principal called name, or nil.
func (p *Policy) Principal(name string) *Principal {
	for i := range p.Principals {
		if p.Principals[i].Name == name {
			return &p.Principals[i]
		}
	}
	return nil
}

// PrincipalByCert returns the principal whose certificate is exactly der,
// or nil.
func (p *Policy) PrincipalByCert(der []byte) *Principal {
	if !p.parsed {
		return nil
	}
	for i := range p.Principals {
		if c := p.Principals[i].cert; c != nil && bytes.Equal(c.Raw, der) {
			return &p.Principals[i]
		}
	}
	return nil
}

// Certificate returns the principal's parsed certificate (nil if the
// policy was not parsed).
func (pr *Principal) Certificate() *x509.Certificate { return pr.cert }

// Program returns the program at path, or nil.
func (p *Policy) Program(path string) *Program {
	for i := range p.Programs {
		if p.Programs[i].Path == path {
			return &p.Programs[i]
		}
	}
	return nil
}

// Hash returns the pinned SHA-256 of the program.
func (pg *Program) Hash() [32]byte { return pg.hash }

// Pipeline returns the pipeline called name, or nil.
func (p *Policy) Pipeline(name string) *Pipeline {
	for i := range p.Pipelines {
		if p.Pipelines[i].Name == name {
			return &p.Pipelines[i]
		}
	}
	return nil
}

// PrincipalAllows reports whether the principal called name has every
// right in r on the file path. Unknown principals, unparsed policies and
// unclean paths get nothing.
func (p *Policy) PrincipalAllows(name, path string, r capability.Rights) bool {
	if !p.parsed || r == 0 {
		return false
	}
	pr := p.Principal(name)
	return pr != nil && pr.Capabilities.Allows(path, r)
}

// ProgramAllows reports whether the program at progPath, while running,
// has every right in r on the file path. Programs never get a or x.
func (p *Policy) ProgramAllows(progPath, path string, r capability.Rights) bool {
	if !p.parsed || r == 0 || r&^(capability.Read|capability.Write) != 0 {
		return false
	}
	pg := p.Program(progPath)
	return pg != nil && pg.Capabilities.Allows(path, r)
}

// TrustsMeasurement reports whether the policy lists measurement for
// platform with no extra pins. A runtime entry that pins extra values is
// never matched here (fail closed): use TrustsEvidence for those.
func (p *Policy) TrustsMeasurement(platform string, measurement []byte) bool {
	return p.TrustsEvidence(platform, measurement, nil)
}

// TrustsEvidence reports whether some runtime of the policy for platform
// has this measurement and every extra pin it lists (see ExtraPins) is in
// extra with equal bytes. Values in extra that the policy does not pin are
// ignored.
func (p *Policy) TrustsEvidence(platform string, measurement []byte, extra map[string][]byte) bool {
	if !p.parsed || len(measurement) == 0 {
		return false
	}
	for _, rt := range p.Attestation.Runtimes {
		if rt.Platform != platform {
			continue
		}
		m, err := hex.DecodeString(rt.Measurement)
		if err != nil || !bytes.Equal(m, measurement) {
			continue
		}
		ok := true
		for k, v := range rt.Extra {
			want, err := hex.DecodeString(v)
			got, present := extra[k]
			if err != nil || !present || !bytes.Equal(want, got) {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// RevokedMeasurement returns the revocation of measurement on platform, or
// nil if it is not revoked.
func (p *Policy) RevokedMeasurement(platform string, measurement []byte) *Revocation {
	for i, r := range p.Attestation.Revoked {
		m, err := hex.DecodeString(r.Measurement)
		if r.Platform == platform && err == nil && bytes.Equal(m, measurement) {
			return &p.Attestation.Revoked[i]
		}
	}
	return nil
}

// MinimumTCB returns the minimum TCB the policy sets for platform, or nil.
func (p *Policy) MinimumTCB(platform string) TCB {
	return p.Attestation.MinimumTCB[platform]
}

// Runtimes returns the trusted runtimes for platform.
func (p *Policy) Runtimes(platform string) []Runtime {
	var rs []Runtime
	for _, rt := range p.Attestation.Runtimes {
		if rt.Platform == platform {
			rs = append(rs, rt)
		}
	}
	return rs
}

// CACertificate returns the attestation service's parsed CA certificate.
func (p *Policy) CACertificate() *x509.Certificate { return p.ca }

// Expired reports whether the policy has expired at now.
func (p *Policy) Expired(now time.Time) bool { return !now.Before(p.Expires) }

// Encode writes p as a policy file: indented JSON with fields in a fixed
// order, map keys sorted and a trailing newline. Nil lists that a policy
// file must hold (principals, programs, attestation.runtimes) and nil
// capability sets are written as empty ones, since Parse refuses null; p
// itself is not changed. It does not validate p; parse the result with
// Parse to be sure it is a valid policy.
func Encode(p *Policy) ([]byte, error) {
	q := *p
	q.Principals = slices.Clone(p.Principals)
	if q.Principals == nil {
		q.Principals = []Principal{}
	}
	for i := range q.Principals {
		if q.Principals[i].Capabilities == nil {
			q.Principals[i].Capabilities = capability.Set{}
		}
	}
	q.Programs = slices.Clone(p.Programs)
	if q.Programs == nil {
		q.Programs = []Program{}
	}
	for i := range q.Programs {
		if q.Programs[i].Capabilities == nil {
			q.Programs[i].Capabilities = capability.Set{}
		}
	}
	if q.Attestation.Runtimes == nil {
		q.Attestation.Runtimes = []Runtime{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep <, > and & readable in names
	enc.SetIndent("", "  ")
	if err := enc.Encode(&q); err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	return b.Bytes(), nil
}
