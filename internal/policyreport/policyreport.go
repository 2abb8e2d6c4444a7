// Package policyreport describes a policy for people and for machines:
// whether it is valid, with every problem and its JSON path if not, and
// otherwise its hash, expiry, trusted enclaves, attestation service,
// pinned programs and who may do what on which paths. It is what "truce
// policy check" prints.
//
// It only reads a policy: it must never change one, and never import the
// runtime, the host or the attestation service.
package policyreport

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
	platforms "github.com/truce-project/truce/platform"
	"github.com/truce-project/truce/policy"
)

// New parses and validates the policy bytes data (read from file) as of
// now and describes it. For an invalid policy the report lists its
// problems and the error is the *policy.ValidationError; any other error
// is returned with a nil report.
func New(file string, data []byte, now time.Time) (*Report, error) {
	h := policy.Hash(data)
	rep := &Report{File: file, Hash: hex.EncodeToString(h[:])}
	p, err := policy.Parse(data, now)
	if err != nil {
		var ve *policy.ValidationError
		if !errors.As(err, &ve) {
			return nil, fmt.Errorf("policy %s: %w", file, err)
		}
		for _, pr := range ve.Problems {
			rep.Problems = append(rep.Problems, Problem{pr.Path, pr.Msg})
		}
		return rep, err
	}
	rep.fill(p)
	return rep, nil
}

// Report describes a policy: whether it is valid (with every problem if
// not) and, if it is, who may do what. Its JSON is what "truce policy
// check --json" prints.
type Report struct {
	File       string                `json:"file"`
	Valid      bool                  `json:"valid"`
	Problems   []Problem             `json:"problems,omitempty"`
	Name       string                `json:"name,omitempty"`
	Hash       string                `json:"hash"`
	Expires    *time.Time            `json:"expires,omitempty"`
	Host       string                `json:"host,omitempty"`
	Service    string                `json:"service,omitempty"`
	CA         *Cert                 `json:"ca,omitempty"`
	Runtimes   []Runtime             `json:"runtimes,omitempty"`
	MinimumTCB map[string]policy.TCB `json:"minimum_tcb,omitempty"`
	Revoked    []policy.Revocation   `json:"revoked,omitempty"`
	Principals []Party               `json:"principals,omitempty"`
	Programs   []Program             `json:"programs,omitempty"`
	Pipelines  []policy.Pipeline     `json:"pipelines,omitempty"`
	Limits     *Limits               `json:"limits,omitempty"`
	Holds      []policy.Hold         `json:"holds,omitempty"`
	Lifecycle  *policy.Lifecycle     `json:"lifecycle,omitempty"`
}

// Problem is one problem of an invalid policy, at a JSON path.
type Problem struct {
	Path string `json:"path"`
	Msg  string `json:"message"`
}

// Cert names a certificate: its subject, fingerprint and expiry.
type Cert struct {
	Subject  string    `json:"subject"`
	SHA256   string    `json:"sha256"`
	NotAfter time.Time `json:"not_after"`
}

// Runtime is one trusted enclave build: what its measurement measures.
type Runtime struct {
	Platform    string            `json:"platform"`
	What        string            `json:"what"`
	Measurement string            `json:"measurement"`
	Extra       map[string]string `json:"extra,omitempty"`
}

// Grant is the rights on one path, also in words.
type Grant struct {
	Path   string   `json:"path"`
	Rights string   `json:"rights"`
	Words  []string `json:"may"`
}

// Party is one principal, its certificate, grants and budgets.
type Party struct {
	Name    string                   `json:"name"`
	Cert    Cert                     `json:"cert"`
	Grants  []Grant                  `json:"grants"`
	Budgets map[string]policy.Budget `json:"budgets,omitempty"`
}

// Program is one pinned program, who may run it and its grants.
type Program struct {
	Path   string   `json:"path"`
	SHA256 string   `json:"sha256"`
	RunBy  []string `json:"run_by"`
	Grants []Grant  `json:"grants"`
}

// Limits are the policy's limits, defaults applied.
type Limits struct {
	MemoryMiB   int64 `json:"memory_mib"`
	ExecSeconds int64 `json:"exec_seconds"`
	FileMiB     int64 `json:"file_mib"`
	TotalMiB    int64 `json:"total_mib"`
}

var rightWords = []struct {
	r    capability.Rights
	word string
}{{capability.Read, "read"}, {capability.Write, "write"}, {capability.Append, "append"}, {capability.Execute, "run"}}

func grantsOf(set capability.Set) []Grant {
	gs := []Grant{}
	for _, path := range set.Paths() {
		r := set[path]
		g := Grant{Path: path, Rights: r.String()}
		for _, w := range rightWords {
			if r.Has(w.r) {
				g.Words = append(g.Words, w.word)
			}
		}
		gs = append(gs, g)
	}
	return gs
}

// fill describes the valid policy p.
func (rep *Report) fill(p *policy.Policy) {
	rep.Valid = true
	rep.Name = p.Name
	exp := p.Expires.UTC()
	rep.Expires = &exp
	rep.Host = p.Host
	rep.Service = p.Attestation.Service
	ca := p.CACertificate()
	rep.CA = &Cert{Subject: ca.Subject.String(), SHA256: fingerprint(ca.Raw), NotAfter: ca.NotAfter.UTC()}
	for _, rt := range p.Attestation.Runtimes {
		spec, _ := platforms.Lookup(rt.Platform)
		rep.Runtimes = append(rep.Runtimes, Runtime{Platform: rt.Platform, What: spec.Measurement, Measurement: strings.ToLower(rt.Measurement), Extra: rt.Extra})
	}
	rep.MinimumTCB = p.Attestation.MinimumTCB
	rep.Revoked = p.Attestation.Revoked
	for _, pr := range p.Principals {
		c := pr.Certificate()
		rep.Principals = append(rep.Principals, Party{
			Name:    pr.Name,
			Cert:    Cert{Subject: c.Subject.String(), SHA256: fingerprint(c.Raw), NotAfter: c.NotAfter.UTC()},
			Grants:  grantsOf(pr.Capabilities),
			Budgets: pr.Budgets,
		})
	}
	for _, pg := range p.Programs {
		cp := Program{Path: pg.Path, SHA256: strings.ToLower(pg.SHA256), RunBy: []string{}, Grants: grantsOf(pg.Capabilities)}
		for _, pr := range p.Principals {
			if pr.Capabilities.Allows(pg.Path, capability.Execute) {
				cp.RunBy = append(cp.RunBy, pr.Name)
			}
		}
		rep.Programs = append(rep.Programs, cp)
	}
	rep.Pipelines = p.Pipelines
	rep.Holds = p.Holds
	rep.Lifecycle = p.Lifecycle
	rep.Limits = &Limits{p.Limits.Memory() >> 20, int64(p.Limits.Exec() / time.Second), p.Limits.File() >> 20, p.Limits.Total() >> 20}
}

func fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// Print writes the report of a valid policy for a person, the time left
// before it expires counted from now.
func (rep *Report) Print(w io.Writer, now time.Time) {
	fmt.Fprintf(w, "policy %q (%s) is valid\n", rep.Name, rep.File)
	fmt.Fprintf(w, "policy hash: %s\n", rep.Hash)
	left := rep.Expires.Sub(now).Round(time.Minute)
	fmt.Fprintf(w, "expires: %s (in %s)\n", rep.Expires.Format(time.RFC3339), humanDuration(left))
	fmt.Fprintf(w, "clients dial: %s\n", rep.Host)
	fmt.Fprintf(w, "\nattestation service: %s\n  CA %s, SHA-256 %s, valid until %s\n",
		rep.Service, rep.CA.Subject, rep.CA.SHA256, rep.CA.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(w, "\ntrusted enclaves:\n")
	for _, rt := range rep.Runtimes {
		sim := ""
		if rt.Platform == "sim" {
			sim = " (simulated: no hardware protection)"
		}
		fmt.Fprintf(w, "  %s%s: %s %s\n", rt.Platform, sim, rt.What, rt.Measurement)
		keys := make([]string, 0, len(rt.Extra))
		for k := range rt.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "    and %s %s\n", k, strings.ToLower(rt.Extra[k]))
		}
	}
	for _, plat := range slices.Sorted(maps.Keys(rep.MinimumTCB)) {
		spec, _ := platforms.Lookup(plat)
		var parts []string
		for _, c := range spec.TCB {
			if v, ok := rep.MinimumTCB[plat][c]; ok {
				parts = append(parts, fmt.Sprintf("%s ≥ %d", c, v))
			}
		}
		fmt.Fprintf(w, "  %s firmware at least: %s\n", plat, strings.Join(parts, ", "))
	}
	for _, r := range rep.Revoked {
		reason := ""
		if r.Reason != "" {
			reason = " (" + r.Reason + ")"
		}
		fmt.Fprintf(w, "  never %s %s%s\n", r.Platform, strings.ToLower(r.Measurement), reason)
	}
	fmt.Fprintf(w, "\nparties:\n")
	for _, pr := range rep.Principals {
		fmt.Fprintf(w, "  %s (certificate %s, SHA-256 %s, valid until %s)\n", pr.Name, pr.Cert.Subject, pr.Cert.SHA256, pr.Cert.NotAfter.Format(time.RFC3339))
		printGrants(w, pr.Grants)
		for _, g := range sortedKeys(pr.Budgets) {
			fmt.Fprintf(w, "    data under %s feeds %s\n", g, budgetWords(pr.Budgets[g]))
		}
	}
	fmt.Fprintf(w, "\nprograms:\n")
	if len(rep.Programs) == 0 {
		fmt.Fprintf(w, "  none\n")
	}
	for _, pg := range rep.Programs {
		fmt.Fprintf(w, "  %s pinned to SHA-256 %s, run by %s\n", pg.Path, pg.SHA256, strings.Join(pg.RunBy, ", "))
		if len(pg.Grants) == 0 {
			fmt.Fprintf(w, "    may touch no file\n")
		}
		printGrants(w, pg.Grants)
	}
	if len(rep.Pipelines) > 0 {
		fmt.Fprintf(w, "\npipelines:\n")
		for _, pl := range rep.Pipelines {
			fmt.Fprintf(w, "  %s: %s\n", pl.Name, strings.Join(pl.Steps, " then "))
		}
	}
	l := rep.Limits
	fmt.Fprintf(w, "\nlimits: memory %d MiB, run time %ds, file %d MiB, all files %d MiB\n", l.MemoryMiB, l.ExecSeconds, l.FileMiB, l.TotalMiB)
	if len(rep.Holds) > 0 {
		fmt.Fprintf(w, "\nheld results:\n")
		for _, h := range rep.Holds {
			fmt.Fprintf(w, "  %s: unreadable until released by %s\n", h.Path, strings.Join(h.ReleaseBy, ", "))
		}
	}
	if lc := rep.Lifecycle; lc != nil {
		fmt.Fprintf(w, "\nsuccession:\n")
		if pd := lc.Predecessor; pd != nil {
			fmt.Fprintf(w, "  succeeds %s (sequence %d of the chain from %s)\n", pd.Policy, pd.Sequence, pd.Genesis)
			fmt.Fprintf(w, "  carries over: %s; every other file is wiped\n", orNone(lc.CarryOver))
		}
		if q := lc.Quorum; q != nil {
			fmt.Fprintf(w, "  a successor needs the approval of %d of %s\n", q.Threshold, strings.Join(q.Of, ", "))
		} else {
			fmt.Fprintf(w, "  no quorum: this policy never changes\n")
		}
	}
}

func orNone(ps []string) string {
	if len(ps) == 0 {
		return "nothing"
	}
	return strings.Join(ps, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// budgetWords says what a budget allows, as "at most 3 runs, until …".
func budgetWords(b policy.Budget) string {
	var parts []string
	switch n := b.Limit(); {
	case b.Once:
		parts = append(parts, "one run only")
	case n > 0:
		parts = append(parts, fmt.Sprintf("at most %d runs", n))
	}
	if b.NotAfter != nil {
		parts = append(parts, "until "+b.NotAfter.UTC().Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

func printGrants(w io.Writer, gs []Grant) {
	for _, g := range gs {
		where := g.Path
		if strings.HasSuffix(g.Path, "/") {
			where = g.Path + " and everything below it"
		}
		fmt.Fprintf(w, "    may %s %s\n", strings.Join(g.Words, ", "), where)
	}
}

func humanDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	default:
		return d.String()
	}
}
