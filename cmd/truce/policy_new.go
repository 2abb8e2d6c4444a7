package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/policy"
)

// policyFlags are the repeatable flags of "policy new".
type policyFlags struct {
	runtimes, principals, programs, pipelines, minimumTCB, revoked stringList
	budgets, holds, carry                                          stringList
}

func init() {
	pf := &policyFlags{}
	register(&command{
		name:    "policy new",
		args:    "-o FILE [flags]",
		summary: "write a policy from flags, validated",
		help: `Writes a policy file from flags, validates it as every party will, and
prints its hash. FILE is never overwritten; "-o -" writes to standard output.

  --principal NAME=CERTFILE:CAPS      a party, its certificate (truce identity
                                       new) and what it may do
  --program GUESTPATH=WASMFILE[:CAPS]  a program, pinned by the SHA-256 of
                                       WASMFILE, and what it may do when run
  --runtime PLATFORM[=MEASUREMENT[,PIN=HEX…]]  a trusted enclave build
  --pipeline NAME=PATH,PATH…            programs run one after another
  --budget NAME=PATH:once|max_runs=N[,not_after=TIME]  limit the runs the
                                       data NAME writes under PATH may feed
  --hold PATH=NAME,NAME…               results under PATH stay unreadable
                                       until each NAME releases them
  --quorum K:NAME,NAME…                K of these may approve a successor
                                       (without it the policy never changes)
  --successor-of BASE --carry PATH…    a successor of policy file BASE that
                                       keeps the files under each PATH
  --minimum-tcb PLATFORM:COMPONENT=N[,COMPONENT=N…]
                                       the lowest firmware security versions
                                       accepted (snp, tdx, sgx)
  --revoke PLATFORM=MEASUREMENT[:REASON]  a runtime build never accepted
  --single-instance                    the attestation service certifies one
                                       enclave only: a restarted enclave (with
                                       fresh budgets and audit log) is refused

CAPS is a comma-separated list of PATH:RIGHTS, such as /input/alice/:w,/output/:r.
A PATH ending in / covers everything below it. RIGHTS are letters: r read,
w write (create or replace), a append, x run a program. Programs get r and w
only; to let a party run a program, grant it x on the program's path.

Without --runtime, and for "--runtime sim" with no measurement, the policy
trusts this truce executable on the simulated platform (see truce measure).
Extra pins for other platforms follow the measurement, such as
--runtime nitro=PCR0HEX,pcr1=HEX,pcr2=HEX.

A successor (see docs/trust-lifecycle.md) must keep BASE's attestation
service, runtimes, host and file limits; it expires with BASE unless
--expires says earlier.
Evidence, and enclave certificates, whose TCB component is below a
--minimum-tcb value are refused by the attestation service and by every
client. The components are, for snp: bootloader, tee, snp, microcode (of the
report's REPORTED_TCB); for tdx: pce_svn, tee_tcb_svn.0…15, cpu_svn.0…15;
for sgx: isv_svn, pce_svn, cpu_svn.0…15. Nitro, sim, cca and psa have none.
See docs/trust-lifecycle-attestation.md.

Example:
  truce policy new -o shamir.json --name shamir --pas-ca pas/ca.crt \
    --principal alice=alice.crt:/input/alice/:w \
    --principal bob=bob.crt:/program/shamir.wasm:x,/output/:r \
    --program /program/shamir.wasm=shamir.wasm:/input/:r,/output/:w`,
		flags: func(fs *flag.FlagSet) {
			fs.String("o", "", "policy `file` to write (- for standard output)")
			fs.String("name", "", "`name` of the computation (default: FILE without its extension)")
			fs.String("expires", "", "expiry as an RFC 3339 `time`, e.g. 2027-01-01T00:00:00Z")
			fs.Duration("valid-for", 720*time.Hour, "expiry as a `duration` from now, when --expires is not given")
			fs.String("host", "127.0.0.1:3017", "`host:port` where clients dial the enclave")
			fs.String("pas-url", "https://127.0.0.1:3010", "`URL` of the attestation service")
			fs.String("pas-ca", "", "`file` with the attestation service's CA certificate (truce pas init writes DIR/ca.crt)")
			fs.Var(&pf.runtimes, "runtime", "trusted enclave `PLATFORM[=MEASUREMENT[,PIN=HEX…]]` (repeatable)")
			fs.Var(&pf.principals, "principal", "party `NAME=CERTFILE:CAPS` (repeatable)")
			fs.Var(&pf.programs, "program", "program `GUESTPATH=WASMFILE[:CAPS]` (repeatable)")
			fs.Var(&pf.pipelines, "pipeline", "pipeline `NAME=PATH,PATH…` (repeatable)")
			fs.Var(&pf.budgets, "budget", "data-use budget `NAME=PATH:once|max_runs=N[,not_after=TIME]` (repeatable)")
			fs.Var(&pf.holds, "hold", "held results `PATH=NAME,NAME…` (repeatable)")
			fs.String("quorum", "", "who may approve a successor: `K:NAME,NAME…`")
			fs.String("successor-of", "", "policy `file` this one succeeds")
			fs.Var(&pf.carry, "carry", "with --successor-of, a `PATH` whose files the change keeps (repeatable)")
			fs.Var(&pf.minimumTCB, "minimum-tcb", "lowest TCB accepted, `PLATFORM:COMPONENT=N[,COMPONENT=N…]` (repeatable)")
			fs.Var(&pf.revoked, "revoke", "runtime build never accepted, `PLATFORM=MEASUREMENT[:REASON]` (repeatable)")
			fs.Bool("single-instance", false, "allow one enclave instance only (attestation.single_instance): the attestation service refuses a second enclave key")
			fs.Int("memory-mib", 0, "most memory a program may use, in `MiB` (default 256)")
			fs.Int("exec-seconds", 0, "longest a run may take, in `seconds` (default 60)")
			fs.Int("file-mib", 0, "largest a file may grow, in `MiB` (default 1024)")
			fs.Int("total-mib", 0, "most the enclave's file system may hold, in `MiB` (default 4096)")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			defer func() { *pf = policyFlags{} }()
			return runPolicyNew(e, fs, args, pf)
		},
	})
}

func intFlag(fs *flag.FlagSet, name string) int {
	return fs.Lookup(name).Value.(flag.Getter).Get().(int)
}

func runPolicyNew(e *env, fs *flag.FlagSet, args []string, pf *policyFlags) error {
	if err := noArgs(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	out := fs.Lookup("o").Value.String()
	if out == "" {
		return usagef("give the policy file to write with -o FILE")
	}
	now := time.Now().UTC()
	p := &policy.Policy{
		Version: policy.Version,
		Name:    fs.Lookup("name").Value.String(),
		Host:    fs.Lookup("host").Value.String(),
		Limits: policy.Limits{
			MemoryMiB:   intFlag(fs, "memory-mib"),
			ExecSeconds: intFlag(fs, "exec-seconds"),
			FileMiB:     intFlag(fs, "file-mib"),
			TotalMiB:    intFlag(fs, "total-mib"),
		},
		Principals: []policy.Principal{},
		Programs:   []policy.Program{},
	}
	if p.Name == "" {
		p.Name = strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
		if out == "-" {
			p.Name = "truce"
		}
	}
	var base *policy.Policy
	if f := fs.Lookup("successor-of").Value.String(); f != "" {
		var err error
		if base, err = loadPolicy(f); err != nil {
			return err
		}
		g := base.GenesisHash()
		p.Lifecycle = &policy.Lifecycle{CarryOver: pf.carry,
			Predecessor: &policy.Predecessor{Genesis: hex.EncodeToString(g[:]), Policy: base.HashHex(), Sequence: base.Sequence() + 1}}
	} else if len(pf.carry) > 0 {
		return usagef("--carry is for a successor: give --successor-of BASE too")
	}
	switch {
	case set["expires"] && set["valid-for"]:
		return usagef("give --expires or --valid-for, not both")
	case base != nil && !set["expires"] && !set["valid-for"]:
		p.Expires = base.Expires
	case set["expires"]:
		t, err := time.Parse(time.RFC3339, fs.Lookup("expires").Value.String())
		if err != nil {
			return usagef("--expires: %q is not an RFC 3339 time: write it like 2027-01-01T00:00:00Z", fs.Lookup("expires").Value.String())
		}
		p.Expires = t
	default:
		d := fs.Lookup("valid-for").Value.(flag.Getter).Get().(time.Duration)
		if d <= 0 {
			return usagef("--valid-for %v: give a positive duration such as 720h", d)
		}
		p.Expires = now.Add(d).Truncate(time.Second)
	}

	if base != nil {
		for _, f := range []string{"pas-url", "pas-ca", "runtime", "minimum-tcb", "revoke", "single-instance", "host", "file-mib", "total-mib"} {
			if set[f] {
				return withHint(usagef("--%s with --successor-of: a successor keeps its base's attestation, host and file limits", f),
					"drop --%s; to change it, start a new enclave with a first policy", f)
			}
		}
		p.Attestation, p.Host = base.Attestation, base.Host
		p.Limits.FileMiB, p.Limits.TotalMiB = base.Limits.FileMiB, base.Limits.TotalMiB
	} else {
		p.Attestation.Service = fs.Lookup("pas-url").Value.String()
		caFile := fs.Lookup("pas-ca").Value.String()
		if caFile == "" {
			return withHint(usagef("give the attestation service's CA certificate with --pas-ca FILE"),
				"\"truce pas init --dir DIR\" writes it as DIR/ca.crt")
		}
		ca, err := identity.ReadCertificatePEM(caFile)
		if err != nil {
			return withHint(fmt.Errorf("--pas-ca: %w", err), "give the CA certificate of the attestation service, such as pas/ca.crt")
		}
		p.Attestation.CACert = string(certPEM(ca.Raw))
		p.Attestation.SingleInstance = fs.Lookup("single-instance").Value.(flag.Getter).Get().(bool)

		if len(pf.runtimes) == 0 {
			pf.runtimes = stringList{"sim"}
		}
		for _, s := range pf.runtimes {
			rt, err := parseRuntimeFlag(s)
			if err != nil {
				return err
			}
			p.Attestation.Runtimes = append(p.Attestation.Runtimes, rt)
		}
	}
	for _, s := range pf.minimumTCB {
		if err := parseMinimumTCBFlag(s, &p.Attestation); err != nil {
			return err
		}
	}
	for _, s := range pf.revoked {
		platform, rest, ok := strings.Cut(s, "=")
		m, reason, _ := strings.Cut(rest, ":")
		if !ok || platform == "" || m == "" {
			return usagef("--revoke %q: write PLATFORM=MEASUREMENT[:REASON], such as sim=HEX:superseded by 1.2", s)
		}
		p.Attestation.Revoked = append(p.Attestation.Revoked, policy.Revocation{Platform: platform, Measurement: strings.ToLower(m), Reason: reason})
	}
	for _, s := range pf.principals {
		pr, err := parsePrincipalFlag(s)
		if err != nil {
			return err
		}
		p.Principals = append(p.Principals, pr)
	}
	for _, s := range pf.programs {
		pg, err := parseProgramFlag(s)
		if err != nil {
			return err
		}
		p.Programs = append(p.Programs, pg)
	}
	for _, s := range pf.pipelines {
		name, steps, ok := strings.Cut(s, "=")
		if !ok || steps == "" {
			return usagef("--pipeline %q: write NAME=PATH,PATH…, such as primes=/program/a.wasm,/program/b.wasm", s)
		}
		p.Pipelines = append(p.Pipelines, policy.Pipeline{Name: name, Steps: strings.Split(steps, ",")})
	}

	if err := lifecycleFlags(p, pf, fs.Lookup("quorum").Value.String()); err != nil {
		return err
	}

	data, err := policy.Encode(p)
	if err != nil {
		return fmt.Errorf("writing the policy: %w", err)
	}
	parsed, err := policy.Parse(data, now)
	if err != nil {
		return withHint(err, "principals[N] and programs[N] count the --principal and --program flags from 0, in the order given; fix the flags and run again")
	}
	if out == "-" {
		_, err := e.stdout.Write(data)
		return err
	}
	if err := atomicfile.WriteNew(out, data, 0o644); err != nil {
		if errors.Is(err, os.ErrExist) {
			return withHint(fmt.Errorf("%s exists: not overwriting it", out), "pick another -o, or remove %s first", out)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s\npolicy hash: %s\nexpires: %s\n", out, parsed.HashHex(), parsed.Expires.UTC().Format(time.RFC3339))
	return nil
}

// lifecycleFlags adds --budget, --hold and --quorum to p; names and paths
// are checked again when the policy is validated.
func lifecycleFlags(p *policy.Policy, pf *policyFlags, quorum string) error {
	for _, s := range pf.budgets {
		name, rest, ok := strings.Cut(s, "=")
		i := -1
		for _, k := range []string{":once", ":max_runs=", ":not_after="} {
			if j := strings.Index(rest, k); j >= 0 && (i < 0 || j < i) {
				i = j
			}
		}
		pr := p.Principal(name)
		if !ok || i < 0 || pr == nil {
			return usagef("--budget %q: write NAME=PATH:once or NAME=PATH:max_runs=N[,not_after=TIME] for a --principal NAME, such as carol=/input/carol.csv:once", s)
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
				return usagef("--budget %s: %s: %v: use once, max_runs=N or not_after=2027-01-01T00:00:00Z", name, item, err)
			}
		}
		if pr.Budgets == nil {
			pr.Budgets = map[string]policy.Budget{}
		}
		pr.Budgets[path] = b
	}
	for _, s := range pf.holds {
		path, names, ok := strings.Cut(s, "=")
		if !ok || path == "" || names == "" {
			return usagef("--hold %q: write PATH=NAME,NAME…, such as /output/=alice,bob", s)
		}
		p.Holds = append(p.Holds, policy.Hold{Path: path, ReleaseBy: strings.Split(names, ",")})
	}
	if quorum != "" {
		k, names, ok := strings.Cut(quorum, ":")
		var n int
		if _, err := fmt.Sscanf(k, "%d", &n); err != nil || !ok || names == "" {
			return usagef("--quorum %q: write K:NAME,NAME…, such as 2:alice,bob,carol", quorum)
		}
		if p.Lifecycle == nil {
			p.Lifecycle = &policy.Lifecycle{}
		}
		p.Lifecycle.Quorum = &policy.Quorum{Threshold: n, Of: strings.Split(names, ",")}
	}
	return nil
}

// parseCaps reads PATH:RIGHTS,PATH:RIGHTS…; paths and rights are checked
// again when the policy is validated.
func parseCaps(flagName, s string) (capability.Set, error) {
	set := capability.Set{}
	if s == "" {
		return set, nil
	}
	for _, item := range strings.Split(s, ",") {
		i := strings.LastIndexByte(item, ':')
		if i < 0 {
			return nil, usagef("%s: %q lacks rights: write PATH:RIGHTS, such as /output/:r", flagName, item)
		}
		path, letters := item[:i], item[i+1:]
		if err := capability.CheckPath(path); err != nil {
			return nil, usagef("%s: %v", flagName, err)
		}
		r, err := capability.ParseRights(letters)
		if err != nil {
			return nil, usagef("%s: %s: %v", flagName, path, err)
		}
		if _, dup := set[path]; dup {
			return nil, usagef("%s: %s is given twice: list its rights once, such as %s:rw", flagName, path, path)
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

func parsePrincipalFlag(s string) (policy.Principal, error) {
	name, rest, ok := strings.Cut(s, "=")
	file, caps, hasCaps := splitFileCaps(rest)
	if !ok || name == "" || file == "" || !hasCaps {
		return policy.Principal{}, usagef("--principal %q: write NAME=CERTFILE:CAPS, such as alice=alice.crt:/input/alice/:w", s)
	}
	c, err := identity.ReadCertificatePEM(file)
	if err != nil {
		return policy.Principal{}, withHint(fmt.Errorf("--principal %s: %w", name, err), "give the .crt file that \"truce identity new %s\" wrote", name)
	}
	set, err := parseCaps("--principal "+name, caps)
	if err != nil {
		return policy.Principal{}, err
	}
	return policy.Principal{Name: name, Cert: string(certPEM(c.Raw)), Capabilities: set}, nil
}

func parseProgramFlag(s string) (policy.Program, error) {
	path, rest, ok := strings.Cut(s, "=")
	file, caps, _ := splitFileCaps(rest)
	if !ok || path == "" || file == "" {
		return policy.Program{}, usagef("--program %q: write GUESTPATH=WASMFILE[:CAPS], such as /program/p.wasm=p.wasm:/input/:r,/output/:w", s)
	}
	f, err := os.Open(file)
	if err != nil {
		return policy.Program{}, withHint(fmt.Errorf("--program %s: %w", path, err), "give the WebAssembly file whose hash the policy pins")
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return policy.Program{}, fmt.Errorf("--program %s: reading %s: %w", path, file, err)
	}
	set, err := parseCaps("--program "+path, caps)
	if err != nil {
		return policy.Program{}, err
	}
	return policy.Program{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Capabilities: set}, nil
}

func parseRuntimeFlag(s string) (policy.Runtime, error) {
	platform, rest, hasM := strings.Cut(s, "=")
	if _, ok := policy.Platform(platform); !ok {
		return policy.Runtime{}, usagef("--runtime %q: unknown platform %q: use one of %s", s, platform, strings.Join(policy.Platforms(), ", "))
	}
	if !hasM || rest == "" {
		if platform != "sim" {
			return policy.Runtime{}, withHint(usagef("--runtime %s needs its measurement: --runtime %s=HEX", platform, platform),
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
			return policy.Runtime{}, usagef("--runtime %s: extra pin %q: write NAME=HEX, such as pcr1=…", platform, kv)
		}
		if rt.Extra == nil {
			rt.Extra = map[string]string{}
		}
		if _, dup := rt.Extra[k]; dup {
			return policy.Runtime{}, usagef("--runtime %s: pin %s given twice", platform, k)
		}
		rt.Extra[k] = strings.ToLower(v)
	}
	return rt, nil
}

// parseMinimumTCBFlag adds PLATFORM:COMPONENT=N,… to a.MinimumTCB; names
// and ranges are checked when the policy is validated.
func parseMinimumTCBFlag(s string, a *policy.Attestation) error {
	platform, list, ok := strings.Cut(s, ":")
	if !ok || platform == "" || list == "" {
		return usagef("--minimum-tcb %q: write PLATFORM:COMPONENT=N[,COMPONENT=N…], such as snp:microcode=115,snp=8", s)
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
			return usagef("--minimum-tcb %s: %q: write COMPONENT=N with N a whole number, such as microcode=115", platform, kv)
		}
		if _, dup := a.MinimumTCB[platform][k]; dup {
			return usagef("--minimum-tcb %s: %s given twice", platform, k)
		}
		a.MinimumTCB[platform][k] = n
	}
	return nil
}

// certPEM writes a DER certificate as one PEM block.
func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
