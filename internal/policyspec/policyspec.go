// Package policyspec builds a policy from the compact specs "truce
// policy new" takes as flags (Spec, Build): parties as
// NAME=CERTFILE:CAPS, programs as GUESTPATH=WASMFILE[:CAPS], runtimes as
// PLATFORM[=MEASUREMENT[,PIN=HEX…]], and so on, reading the certificate
// and program files they name. Mistakes in a spec are *hint.UsageError
// values that name the flag, in the syntax its help describes.
//
// It only builds a policy value: the caller encodes it with
// policy.Encode and validates it with policy.Parse. It must never write a
// file, and never import the runtime, the host or the attestation
// service.
package policyspec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/hint"
	platforms "github.com/truce-project/truce/platform"
	"github.com/truce-project/truce/policy"
)

// Spec is a policy as "truce policy new" is told it. Each list holds the
// values of one repeatable flag, in the order given.
type Spec struct {
	// Name, Host and Service (the attestation service's URL) are the
	// policy's; CAFile holds the attestation service's CA certificate.
	Name, Host, Service, CAFile string
	// Expires is an RFC 3339 time; when it is not given, the policy is
	// valid for ValidFor from now (a successor: until its base expires).
	Expires  string
	ValidFor time.Duration
	// Base, if set, is the policy this one succeeds; it keeps Base's
	// attestation, host and file limits, and Carry lists the paths whose
	// files the change keeps.
	Base  *policy.Policy
	Carry []string
	// Runtimes (none: this executable on sim), Principals, Programs,
	// Pipelines, MinimumTCB, Revoked, Budgets and Holds are the values of
	// --runtime, --principal, --program, --pipeline, --minimum-tcb,
	// --revoke, --budget and --hold.
	Runtimes, Principals, Programs, Pipelines, MinimumTCB, Revoked, Budgets, Holds []string
	// Quorum is K:NAME,NAME…, who may approve a successor.
	Quorum         string
	SingleInstance bool
	Limits         policy.Limits
	// Given names the flags given on the command line (without dashes):
	// those that conflict, or that a successor may not change.
	Given map[string]bool
}

// Build makes the policy spec describes, expiring relative to now. It does
// not validate the result: encode it and parse it for that.
func Build(spec Spec, now time.Time) (*policy.Policy, error) {
	set := spec.Given
	p := &policy.Policy{
		Version:    policy.Version,
		Name:       spec.Name,
		Host:       spec.Host,
		Limits:     spec.Limits,
		Principals: []policy.Principal{},
		Programs:   []policy.Program{},
	}
	base := spec.Base
	if base != nil {
		g := base.GenesisHash()
		p.Lifecycle = &policy.Lifecycle{CarryOver: spec.Carry,
			Predecessor: &policy.Predecessor{Genesis: hex.EncodeToString(g[:]), Policy: base.HashHex(), Sequence: base.Sequence() + 1}}
	} else if len(spec.Carry) > 0 {
		return nil, hint.Usagef("--carry is for a successor: give --successor-of BASE too")
	}
	switch {
	case set["expires"] && set["valid-for"]:
		return nil, hint.Usagef("give --expires or --valid-for, not both")
	case base != nil && !set["expires"] && !set["valid-for"]:
		p.Expires = base.Expires
	case set["expires"]:
		t, err := time.Parse(time.RFC3339, spec.Expires)
		if err != nil {
			return nil, hint.Usagef("--expires: %q is not an RFC 3339 time: write it like 2027-01-01T00:00:00Z", spec.Expires)
		}
		p.Expires = t
	default:
		d := spec.ValidFor
		if d <= 0 {
			return nil, hint.Usagef("--valid-for %v: give a positive duration such as 720h", d)
		}
		p.Expires = now.Add(d).Truncate(time.Second)
	}

	if base != nil {
		for _, f := range []string{"pas-url", "pas-ca", "runtime", "minimum-tcb", "revoke", "single-instance", "host", "file-mib", "total-mib"} {
			if set[f] {
				return nil, hint.With(hint.Usagef("--%s with --successor-of: a successor keeps its base's attestation, host and file limits", f),
					"drop --%s; to change it, start a new enclave with a first policy", f)
			}
		}
		p.Attestation, p.Host = base.Attestation, base.Host
		p.Limits.FileMiB, p.Limits.TotalMiB = base.Limits.FileMiB, base.Limits.TotalMiB
	} else {
		p.Attestation.Service = spec.Service
		caFile := spec.CAFile
		if caFile == "" {
			return nil, hint.With(hint.Usagef("give the attestation service's CA certificate with --pas-ca FILE"),
				"\"truce pas init --dir DIR\" writes it as DIR/ca.crt")
		}
		ca, err := identity.ReadCertificatePEM(caFile)
		if err != nil {
			return nil, hint.With(fmt.Errorf("--pas-ca: %w", err), "give the CA certificate of the attestation service, such as pas/ca.crt")
		}
		p.Attestation.CACert = string(CertPEM(ca.Raw))
		p.Attestation.SingleInstance = spec.SingleInstance

		runtimes := spec.Runtimes
		if len(runtimes) == 0 {
			runtimes = []string{"sim"}
		}
		for _, s := range runtimes {
			rt, err := Runtime(s)
			if err != nil {
				return nil, err
			}
			p.Attestation.Runtimes = append(p.Attestation.Runtimes, rt)
		}
	}
	for _, s := range spec.MinimumTCB {
		if err := MinimumTCB(s, &p.Attestation); err != nil {
			return nil, err
		}
	}
	for _, s := range spec.Revoked {
		platform, rest, ok := strings.Cut(s, "=")
		m, reason, _ := strings.Cut(rest, ":")
		if !ok || platform == "" || m == "" {
			return nil, hint.Usagef("--revoke %q: write PLATFORM=MEASUREMENT[:REASON], such as sim=HEX:superseded by 1.2", s)
		}
		p.Attestation.Revoked = append(p.Attestation.Revoked, policy.Revocation{Platform: platform, Measurement: strings.ToLower(m), Reason: reason})
	}
	for _, s := range spec.Principals {
		pr, err := Principal(s)
		if err != nil {
			return nil, err
		}
		p.Principals = append(p.Principals, pr)
	}
	for _, s := range spec.Programs {
		pg, err := Program(s)
		if err != nil {
			return nil, err
		}
		p.Programs = append(p.Programs, pg)
	}
	for _, s := range spec.Pipelines {
		name, steps, ok := strings.Cut(s, "=")
		if !ok || steps == "" {
			return nil, hint.Usagef("--pipeline %q: write NAME=PATH,PATH…, such as primes=/program/a.wasm,/program/b.wasm", s)
		}
		p.Pipelines = append(p.Pipelines, policy.Pipeline{Name: name, Steps: strings.Split(steps, ",")})
	}

	if err := lifecycle(p, spec.Budgets, spec.Holds, spec.Quorum); err != nil {
		return nil, err
	}
	return p, nil
}

// lifecycle adds --budget, --hold and --quorum to p; names and paths are
// checked again when the policy is validated.
func lifecycle(p *policy.Policy, budgets, holds []string, quorum string) error {
	for _, s := range budgets {
		name, rest, ok := strings.Cut(s, "=")
		i := -1
		for _, k := range []string{":once", ":max_runs=", ":not_after="} {
			if j := strings.Index(rest, k); j >= 0 && (i < 0 || j < i) {
				i = j
			}
		}
		pr := p.Principal(name)
		if !ok || i < 0 || pr == nil {
			return hint.Usagef("--budget %q: write NAME=PATH:once or NAME=PATH:max_runs=N[,not_after=TIME] for a --principal NAME, such as carol=/input/carol.csv:once", s)
		}
		path := rest[:i]
		var b policy.Budget
		for _, item := range strings.Split(rest[i+1:], ",") {
			k, v, _ := strings.Cut(item, "=")
			var err error
			switch k {
			case "once":
				b.Once = true
			case "max_runs":
				_, err = fmt.Sscanf(v, "%d", &b.MaxRuns)
			case "not_after":
				var t time.Time
				t, err = time.Parse(time.RFC3339, v)
				b.NotAfter = &t
			default:
				err = fmt.Errorf("unknown limit %q", k)
			}
			if err != nil {
				return hint.Usagef("--budget %s: %s: %v: use once, max_runs=N or not_after=2027-01-01T00:00:00Z", name, item, err)
			}
		}
		if pr.Budgets == nil {
			pr.Budgets = map[string]policy.Budget{}
		}
		pr.Budgets[path] = b
	}
	for _, s := range holds {
		path, names, ok := strings.Cut(s, "=")
		if !ok || path == "" || names == "" {
			return hint.Usagef("--hold %q: write PATH=NAME,NAME…, such as /output/=alice,bob", s)
		}
		p.Holds = append(p.Holds, policy.Hold{Path: path, ReleaseBy: strings.Split(names, ",")})
	}
	if quorum != "" {
		k, names, ok := strings.Cut(quorum, ":")
		var n int
		if _, err := fmt.Sscanf(k, "%d", &n); err != nil || !ok || names == "" {
			return hint.Usagef("--quorum %q: write K:NAME,NAME…, such as 2:alice,bob,carol", quorum)
		}
		if p.Lifecycle == nil {
			p.Lifecycle = &policy.Lifecycle{}
		}
		p.Lifecycle.Quorum = &policy.Quorum{Threshold: n, Of: strings.Split(names, ",")}
	}
	return nil
}

// Caps reads PATH:RIGHTS,PATH:RIGHTS…; paths and rights are checked
// again when the policy is validated.
func Caps(flagName, s string) (capability.Set, error) {
	set := capability.Set{}
	if s == "" {
		return set, nil
	}
	for _, item := range strings.Split(s, ",") {
		i := strings.LastIndexByte(item, ':')
		if i < 0 {
			return nil, hint.Usagef("%s: %q lacks rights: write PATH:RIGHTS, such as /output/:r", flagName, item)
		}
		path, letters := item[:i], item[i+1:]
		if err := capability.CheckPath(path); err != nil {
			return nil, hint.Usagef("%s: %v", flagName, err)
		}
		r, err := capability.ParseRights(letters)
		if err != nil {
			return nil, hint.Usagef("%s: %s: %v", flagName, path, err)
		}
		if _, dup := set[path]; dup {
			return nil, hint.Usagef("%s: %s is given twice: list its rights once, such as %s:rw", flagName, path, path)
		}
		set[path] = r
	}
	return set, nil
}

// splitFileCaps splits FILE:CAPS where CAPS starts with "/"; a FILE may
// hold ':' itself as long as no ":/" follows it.
func splitFileCaps(s string) (file, caps string, hasCaps bool) {
	if i := strings.Index(s, ":/"); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// Principal reads NAME=CERTFILE:CAPS (--principal), reading CERTFILE.
func Principal(s string) (policy.Principal, error) {
	name, rest, ok := strings.Cut(s, "=")
	file, caps, hasCaps := splitFileCaps(rest)
	if !ok || name == "" || file == "" || !hasCaps {
		return policy.Principal{}, hint.Usagef("--principal %q: write NAME=CERTFILE:CAPS, such as alice=alice.crt:/input/alice/:w", s)
	}
	c, err := identity.ReadCertificatePEM(file)
	if err != nil {
		return policy.Principal{}, hint.With(fmt.Errorf("--principal %s: %w", name, err), "give the .crt file that \"truce identity new %s\" wrote", name)
	}
	set, err := Caps("--principal "+name, caps)
	if err != nil {
		return policy.Principal{}, err
	}
	return policy.Principal{Name: name, Cert: string(CertPEM(c.Raw)), Capabilities: set}, nil
}

// Program reads GUESTPATH=WASMFILE[:CAPS] (--program), pinning the
// SHA-256 of WASMFILE.
func Program(s string) (policy.Program, error) {
	path, rest, ok := strings.Cut(s, "=")
	file, caps, _ := splitFileCaps(rest)
	if !ok || path == "" || file == "" {
		return policy.Program{}, hint.Usagef("--program %q: write GUESTPATH=WASMFILE[:CAPS], such as /program/p.wasm=p.wasm:/input/:r,/output/:w", s)
	}
	f, err := os.Open(file)
	if err != nil {
		return policy.Program{}, hint.With(fmt.Errorf("--program %s: %w", path, err), "give the WebAssembly file whose hash the policy pins")
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return policy.Program{}, fmt.Errorf("--program %s: reading %s: %w", path, file, err)
	}
	set, err := Caps("--program "+path, caps)
	if err != nil {
		return policy.Program{}, err
	}
	return policy.Program{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Capabilities: set}, nil
}

// Runtime reads PLATFORM[=MEASUREMENT[,PIN=HEX…]] (--runtime); sim
// without a measurement is this executable's.
func Runtime(s string) (policy.Runtime, error) {
	platform, rest, hasM := strings.Cut(s, "=")
	if _, ok := platforms.Lookup(platform); !ok {
		return policy.Runtime{}, hint.Usagef("--runtime %q: unknown platform %q: use one of %s", s, platform, strings.Join(platforms.Names(), ", "))
	}
	if !hasM || rest == "" {
		if platform != "sim" {
			return policy.Runtime{}, hint.With(hint.Usagef("--runtime %s needs its measurement: --runtime %s=HEX", platform, platform),
				"\"truce measure --platform %s\" says how to obtain it", platform)
		}
		m, err := sim.MeasureSelf()
		if err != nil {
			return policy.Runtime{}, fmt.Errorf("--runtime sim: %w", err)
		}
		return policy.Runtime{Platform: platform, Measurement: hex.EncodeToString(m)}, nil
	}
	parts := strings.Split(rest, ",")
	rt := policy.Runtime{Platform: platform, Measurement: strings.ToLower(parts[0])}
	for _, kv := range parts[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return policy.Runtime{}, hint.Usagef("--runtime %s: extra pin %q: write NAME=HEX, such as pcr1=…", platform, kv)
		}
		if rt.Extra == nil {
			rt.Extra = map[string]string{}
		}
		if _, dup := rt.Extra[k]; dup {
			return policy.Runtime{}, hint.Usagef("--runtime %s: pin %s given twice", platform, k)
		}
		rt.Extra[k] = strings.ToLower(v)
	}
	return rt, nil
}

// MinimumTCB adds PLATFORM:COMPONENT=N,… to a.MinimumTCB; names
// and ranges are checked when the policy is validated.
func MinimumTCB(s string, a *policy.Attestation) error {
	platform, list, ok := strings.Cut(s, ":")
	if !ok || platform == "" || list == "" {
		return hint.Usagef("--minimum-tcb %q: write PLATFORM:COMPONENT=N[,COMPONENT=N…], such as snp:microcode=115,snp=8", s)
	}
	if a.MinimumTCB == nil {
		a.MinimumTCB = map[string]policy.TCB{}
	}
	if a.MinimumTCB[platform] == nil {
		a.MinimumTCB[platform] = policy.TCB{}
	}
	for _, kv := range strings.Split(list, ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || k == "" || err != nil {
			return hint.Usagef("--minimum-tcb %s: %q: write COMPONENT=N with N a whole number, such as microcode=115", platform, kv)
		}
		if _, dup := a.MinimumTCB[platform][k]; dup {
			return hint.Usagef("--minimum-tcb %s: %s given twice", platform, k)
		}
		a.MinimumTCB[platform][k] = n
	}
	return nil
}

// CertPEM writes a DER certificate as one PEM block.
func CertPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
