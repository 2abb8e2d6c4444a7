package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/platform"
)

// MaxSVN is the largest TCB component value a policy may set.
const MaxSVN = 1<<16 - 1

func sizesText(sizes []int) string {
	var parts []string
	for _, s := range sizes {
		parts = append(parts, fmt.Sprintf("%d bytes (%d hex digits)", s, 2*s))
	}
	return strings.Join(parts, " or ")
}

// checkHex reports why s is not hex of one of the sizes, or "".
func checkHex(s string, sizes []int) string {
	b, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Sprintf("%q is not hex: use digits 0-9 and a-f only", truncate(s))
	}
	for _, n := range sizes {
		if len(b) == n {
			return ""
		}
	}
	return fmt.Sprintf("is %d bytes, must be %s", len(b), sizesText(sizes))
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// The problems of a policy whose time has passed.
const (
	expiredPolicy    = "%s is in the past: make a new policy with a later expiry"
	expiredCA        = "CA certificate %q expired at %s"
	expiredPrincipal = "certificate of %q expired at %s: make a new identity and put its certificate here"
)

// validate checks p; a zero now skips the checks that depend on the time
// (validAt makes them).
func (p *Policy) validate(now time.Time, ps *problems) {
	if p.Version != Version {
		ps.add("version", "is %d, must be %d", p.Version, Version)
	}
	switch {
	case strings.TrimSpace(p.Name) == "":
		ps.add("name", "is empty: give the computation a name")
	case len(p.Name) > 128:
		ps.add("name", "is %d bytes long, at most 128 allowed", len(p.Name))
	case strings.IndexFunc(p.Name, unicode.IsControl) >= 0:
		ps.add("name", "contains control characters")
	}
	if p.Expires.IsZero() {
		ps.add("expires", "is not set: give an RFC 3339 time such as 2027-01-01T00:00:00Z")
	} else if !now.IsZero() && !p.Expires.After(now) {
		ps.add("expires", expiredPolicy, p.Expires.Format(time.RFC3339))
	}
	if msg := checkHostPort(p.Host); msg != "" {
		ps.add("host", "%s", msg)
	}
	p.validateAttestation(now, ps)
	p.validatePrincipals(now, ps)
	p.validatePrograms(ps)
	p.validatePipelines(ps)
	p.validateLimits(ps)
	p.validateBudgets(ps)
	p.validateHolds(ps)
	p.validateLifecycle(ps)
}

// validateBudgets checks each budget names a write or append grant of its
// principal and limits something.
func (p *Policy) validateBudgets(ps *problems) {
	for i := range p.Principals {
		pr := &p.Principals[i]
		path := indexPath("principals", i) + ".budgets"
		for _, g := range sortedKeys(pr.Budgets) {
			b, bp := pr.Budgets[g], keyPath(path, g)
			if r, ok := pr.Capabilities[g]; !ok || r&(capability.Write|capability.Append) == 0 {
				ps.add(bp, "names no grant of %s with w or a: a budget limits the data a party writes, so give it on one of the party's write grants", pr.Name)
			}
			switch {
			case b.MaxRuns < 0:
				ps.add(bp+".max_runs", "is %d: give a positive number of runs", b.MaxRuns)
			case b.Once && b.MaxRuns != 0:
				ps.add(bp, "gives both once and max_runs: once is max_runs 1, give one of them")
			case !b.Once && b.MaxRuns == 0 && b.NotAfter == nil:
				ps.add(bp, "limits nothing: give max_runs, not_after or once, or drop the budget")
			}
		}
	}
}

// validateHolds checks each hold names a clean path and known principals.
func (p *Policy) validateHolds(ps *problems) {
	for i, h := range p.Holds {
		path := indexPath("holds", i)
		if err := capability.CheckPath(h.Path); err != nil {
			ps.add(path+".path", "%v", err)
		}
		if len(h.ReleaseBy) == 0 {
			ps.add(path+".release_by", "is empty: name the principals who must release the results")
		}
		p.checkNames(h.ReleaseBy, path+".release_by", ps)
	}
}

// checkNames checks names are principals, each named once.
func (p *Policy) checkNames(names []string, path string, ps *problems) {
	seen := map[string]bool{}
	for j, n := range names {
		switch {
		case p.Principal(n) == nil:
			ps.add(indexPath(path, j), "%q is not a principal of the policy", n)
		case seen[n]:
			ps.add(indexPath(path, j), "%q is named twice", n)
		}
		seen[n] = true
	}
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validateLifecycle checks the succession rules: a satisfiable quorum of
// principals who can sign, a well-formed predecessor, and carry-over
// paths only in a successor.
func (p *Policy) validateLifecycle(ps *problems) {
	lc := p.Lifecycle
	if lc == nil {
		return
	}
	if q := lc.Quorum; q != nil {
		if len(q.Of) == 0 {
			ps.add("lifecycle.quorum.of", "is empty: name the principals who approve a successor")
		}
		if q.Threshold < 1 || q.Threshold > len(q.Of) {
			ps.add("lifecycle.quorum.threshold", "is %d: give a number from 1 to %d (the principals in of)", q.Threshold, len(q.Of))
		}
		p.checkNames(q.Of, "lifecycle.quorum.of", ps)
		for j, n := range q.Of {
			if pr := p.Principal(n); pr != nil && pr.cert != nil {
				if k, ok := pr.cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
					ps.add(indexPath("lifecycle.quorum.of", j), "%q has no P-256 ECDSA key, so cannot sign approvals: make its identity with truce identity new", n)
				}
			}
		}
	}
	if pd := lc.Predecessor; pd != nil {
		if !hashRE.MatchString(pd.Genesis) {
			ps.add("lifecycle.predecessor.genesis", "must be 64 lower-case hex digits: the policy hash of the chain's first policy")
		}
		if !hashRE.MatchString(pd.Policy) {
			ps.add("lifecycle.predecessor.policy", "must be 64 lower-case hex digits: the policy hash of the policy this one succeeds")
		}
		if pd.Sequence < 1 {
			ps.add("lifecycle.predecessor.sequence", "is %d: the first successor is 1", pd.Sequence)
		} else if pd.Sequence == 1 && pd.Genesis != pd.Policy {
			ps.add("lifecycle.predecessor", "sequence 1 succeeds the first policy, so genesis and policy must be the same hash")
		}
	} else if len(lc.CarryOver) > 0 {
		ps.add("lifecycle.carry_over", "is only for a successor: give lifecycle.predecessor, or drop carry_over")
	}
	seen := map[string]bool{}
	for j, g := range lc.CarryOver {
		if err := capability.CheckPath(g); err != nil {
			ps.add(indexPath("lifecycle.carry_over", j), "%v", err)
		} else if seen[g] {
			ps.add(indexPath("lifecycle.carry_over", j), "%q is listed twice", g)
		}
		seen[g] = true
	}
}

func checkHostPort(hp string) string {
	if hp == "" {
		return "is empty: give host:port where clients dial, such as 127.0.0.1:3017"
	}
	if strings.Contains(hp, "://") {
		return fmt.Sprintf("%q must be host:port without a scheme, such as 127.0.0.1:3017", hp)
	}
	h, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Sprintf("%q is not host:port: %v", hp, err)
	}
	if h == "" {
		return fmt.Sprintf("%q has no host name", hp)
	}
	if strings.ContainsAny(h, " /?#@") || strings.IndexFunc(h, unicode.IsControl) >= 0 {
		return fmt.Sprintf("%q has an invalid host name", hp)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Sprintf("%q has port %q: give a number from 1 to 65535", hp, port)
	}
	return ""
}

func checkServiceURL(s string) string {
	if s == "" {
		return "is empty: give the attestation service URL, such as https://127.0.0.1:3010"
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Sprintf("%q is not a URL: %v", s, err)
	}
	if u.Scheme != "https" {
		return fmt.Sprintf("%q must start with https://", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Sprintf("%q has no host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" || strings.Contains(s, "#") {
		return fmt.Sprintf("%q must not carry user information, a query or a fragment", s)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%q has port %q: give a number from 1 to 65535", s, port)
		}
	}
	return ""
}

func (p *Policy) validateAttestation(now time.Time, ps *problems) {
	a := &p.Attestation
	if msg := checkServiceURL(a.Service); msg != "" {
		ps.add("attestation.service", "%s", msg)
	}
	if a.CACert == "" {
		ps.add("attestation.ca_cert", "is empty: give the PEM certificate of the attestation service's CA (truce pas init writes it)")
	} else if c, err := identity.ParseCertificatePEM([]byte(a.CACert)); err != nil {
		ps.add("attestation.ca_cert", "%v", err)
	} else {
		switch {
		case !c.BasicConstraintsValid || !c.IsCA:
			ps.add("attestation.ca_cert", "certificate %q is not a CA (basic constraints CA:TRUE missing): give the attestation service's CA certificate", c.Subject.CommonName)
		case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
			ps.add("attestation.ca_cert", "CA certificate %q may not sign certificates (key usage lacks certSign)", c.Subject.CommonName)
		case !now.IsZero() && !now.Before(c.NotAfter):
			ps.add("attestation.ca_cert", expiredCA, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
		default:
			p.ca = c
		}
	}
	if len(a.Runtimes) == 0 {
		ps.add("attestation.runtimes", "is empty: list at least one trusted enclave measurement (truce measure --platform sim prints one)")
	}
	seen := map[string]int{}
	for i, rt := range a.Runtimes {
		path := indexPath("attestation.runtimes", i)
		spec, ok := platform.Lookup(rt.Platform)
		if !ok {
			ps.add(path+".platform", "unknown platform %q: use one of %s", rt.Platform, strings.Join(platform.Names(), ", "))
			continue
		}
		if msg := checkHex(rt.Measurement, spec.Sizes); msg != "" {
			ps.add(path+".measurement", "%s measurement (%s) %s", rt.Platform, spec.Measurement, msg)
		}
		for _, k := range sortedKeys(rt.Extra) {
			sizes, ok := spec.Extra[k]
			if !ok {
				if len(spec.Extra) == 0 {
					ps.add(keyPath(path+".extra", k), "platform %s has no extra pins", rt.Platform)
				} else {
					ps.add(keyPath(path+".extra", k), "unknown pin for %s: use one of %s", rt.Platform, strings.Join(sortedKeys(spec.Extra), ", "))
				}
				continue
			}
			if msg := checkHex(rt.Extra[k], sizes); msg != "" {
				ps.add(keyPath(path+".extra", k), "%s", msg)
			}
		}
		key := rt.Platform + "/" + strings.ToLower(rt.Measurement) + "/" + fmt.Sprint(normExtra(rt.Extra))
		if j, dup := seen[key]; dup {
			ps.add(path, "same platform and measurement as attestation.runtimes[%d]: list each once", j)
		}
		seen[key] = i
	}
	p.validateMinimumTCB(ps)
	p.validateRevoked(ps)
}

func (p *Policy) validateMinimumTCB(ps *problems) {
	for _, plat := range sortedKeys(p.Attestation.MinimumTCB) {
		path := keyPath("attestation.minimum_tcb", plat)
		spec, ok := platform.Lookup(plat)
		switch {
		case !ok:
			ps.add(path, "unknown platform %q: use one of %s", plat, strings.Join(platform.Names(), ", "))
			continue
		case len(spec.TCB) == 0:
			ps.add(path, "platform %s has no TCB components to set a minimum for: %s", plat, spec.NoTCB)
			continue
		}
		tcb := p.Attestation.MinimumTCB[plat]
		if len(tcb) == 0 {
			ps.add(path, "is empty: name at least one of %s, or leave %s out", strings.Join(spec.TCB, ", "), plat)
		}
		for _, c := range sortedKeys(tcb) {
			switch v := tcb[c]; {
			case !slices.Contains(spec.TCB, c):
				ps.add(keyPath(path, c), "unknown TCB component of %s: use one of %s", plat, strings.Join(spec.TCB, ", "))
			case v < 0 || v > MaxSVN:
				ps.add(keyPath(path, c), "is %d: a security version number is from 0 to %d", v, MaxSVN)
			}
		}
	}
}

func (p *Policy) validateRevoked(ps *problems) {
	seen := map[string]int{}
	for i, r := range p.Attestation.Revoked {
		path := indexPath("attestation.revoked", i)
		spec, ok := platform.Lookup(r.Platform)
		if !ok {
			ps.add(path+".platform", "unknown platform %q: use one of %s", r.Platform, strings.Join(platform.Names(), ", "))
			continue
		}
		if msg := checkHex(r.Measurement, spec.Sizes); msg != "" {
			ps.add(path+".measurement", "%s measurement (%s) %s", r.Platform, spec.Measurement, msg)
			continue
		}
		if len(r.Reason) > 256 || strings.IndexFunc(r.Reason, unicode.IsControl) >= 0 {
			ps.add(path+".reason", "must be at most 256 bytes without control characters")
		}
		key := r.Platform + "/" + strings.ToLower(r.Measurement)
		if j, dup := seen[key]; dup {
			ps.add(path, "same platform and measurement as attestation.revoked[%d]: list each once", j)
		}
		seen[key] = i
		for j, rt := range p.Attestation.Runtimes {
			if rt.Platform == r.Platform && strings.EqualFold(rt.Measurement, r.Measurement) {
				ps.add(path, "revokes the measurement attestation.runtimes[%d] trusts: remove it from runtimes, or drop the revocation", j)
			}
		}
	}
}

func normExtra(m map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, k+"="+strings.ToLower(m[k]))
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func checkGrants(set capability.Set, path string, allowed capability.Rights, who string, ps *problems) {
	for _, g := range set.Paths() {
		gp := keyPath(path, g)
		if err := capability.CheckPath(g); err != nil {
			ps.add(gp, "%v", err)
		}
		if r := set[g]; r&^allowed != 0 {
			ps.add(gp, "%s may have only %q rights, not %q", who, allowed.String(), (r &^ allowed).String())
		}
	}
}

func (p *Policy) validatePrincipals(now time.Time, ps *problems) {
	if len(p.Principals) == 0 {
		ps.add("principals", "is empty: list at least one party (truce identity new NAME makes its certificate)")
	}
	names := map[string]int{}
	ders := map[string]int{}
	keys := map[string]int{}
	for i := range p.Principals {
		pr := &p.Principals[i]
		path := indexPath("principals", i)
		if !nameRE.MatchString(pr.Name) {
			ps.add(path+".name", "%q is not a valid name: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", pr.Name)
		} else if j, dup := names[pr.Name]; dup {
			ps.add(path+".name", "%q is also the name of principals[%d]: names must be unique", pr.Name, j)
		} else {
			names[pr.Name] = i
		}
		if pr.Cert == "" {
			ps.add(path+".cert", "is empty: give the party's PEM certificate")
		} else if c, err := identity.ParseCertificatePEM([]byte(pr.Cert)); err != nil {
			ps.add(path+".cert", "%v", err)
		} else {
			spki, _ := x509.MarshalPKIXPublicKey(c.PublicKey)
			switch {
			case !now.IsZero() && !now.Before(c.NotAfter):
				ps.add(path+".cert", expiredPrincipal, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
			case !clientAuthOK(c):
				ps.add(path+".cert", "certificate of %q may not be used for TLS client authentication (extended key usage)", c.Subject.CommonName)
			case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageDigitalSignature == 0:
				ps.add(path+".cert", "certificate of %q lacks the digitalSignature key usage TLS 1.3 needs", c.Subject.CommonName)
			case spki == nil:
				ps.add(path+".cert", "certificate of %q has a public key type TLS cannot use", c.Subject.CommonName)
			}
			if j, dup := ders[string(c.Raw)]; dup {
				ps.add(path+".cert", "same certificate as principals[%d]: each party needs its own identity", j)
			} else if j, dup := keys[string(spki)]; dup && spki != nil {
				ps.add(path+".cert", "same public key as principals[%d]: each party needs its own key", j)
			} else {
				ders[string(c.Raw)] = i
				keys[string(spki)] = i
				pr.cert = c
			}
		}
		checkGrants(pr.Capabilities, path+".capabilities", capability.All, "principals", ps)
		for _, g := range pr.Capabilities.Paths() {
			if pr.Capabilities[g]&capability.Execute == 0 {
				continue
			}
			if !p.coversProgram(g) {
				ps.add(keyPath(path+".capabilities", g), "grants x (run) but no program in programs lies at or below it: add the program or drop x")
			}
		}
	}
}

func clientAuthOK(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// coversProgram reports whether grant path g covers some program. The
// program paths are sorted once, so a policy with many grants and programs
// is still checked in O(n log n).
func (p *Policy) coversProgram(g string) bool {
	if p.progPaths == nil {
		p.progPaths = make([]string, 0, len(p.Programs))
		for _, pg := range p.Programs {
			p.progPaths = append(p.progPaths, pg.Path)
		}
		sort.Strings(p.progPaths)
	}
	has := func(s string) bool {
		i := sort.SearchStrings(p.progPaths, s)
		return i < len(p.progPaths) && p.progPaths[i] == s
	}
	if !strings.HasSuffix(g, "/") {
		return has(g)
	}
	if has(strings.TrimSuffix(g, "/")) {
		return true
	}
	i := sort.SearchStrings(p.progPaths, g)
	return i < len(p.progPaths) && strings.HasPrefix(p.progPaths[i], g)
}

// xGranted reports whether some grant path in runners covers the clean
// file path f: f itself, f as a directory, or one of its parent
// directories.
func xGranted(runners map[string]bool, f string) bool {
	if runners[f] || runners[f+"/"] || runners["/"] {
		return true
	}
	for i := 1; i < len(f); i++ {
		if f[i] == '/' && runners[f[:i+1]] {
			return true
		}
	}
	return false
}

func (p *Policy) validatePrograms(ps *problems) {
	runners := map[string]bool{} // every grant path with x, of any principal
	for _, pr := range p.Principals {
		for g, r := range pr.Capabilities {
			if r&capability.Execute != 0 {
				runners[g] = true
			}
		}
	}
	paths := map[string]int{}
	for i := range p.Programs {
		pg := &p.Programs[i]
		path := indexPath("programs", i)
		if err := capability.CheckPath(pg.Path); err != nil {
			ps.add(path+".path", "%v", err)
		} else if strings.HasSuffix(pg.Path, "/") {
			ps.add(path+".path", "%q is a directory: give the program's file path, such as /program/shamir.wasm", pg.Path)
		} else if j, dup := paths[pg.Path]; dup {
			ps.add(path+".path", "%q is also the path of programs[%d]: paths must be unique", pg.Path, j)
		} else {
			paths[pg.Path] = i
			if !xGranted(runners, pg.Path) {
				ps.add(path, "nobody may run %s: grant some principal x on it", pg.Path)
			}
		}
		if msg := checkHex(pg.SHA256, []int{32}); msg != "" {
			ps.add(path+".sha256", "%s", msg)
		} else {
			b, _ := hex.DecodeString(pg.SHA256)
			copy(pg.hash[:], b)
		}
		checkGrants(pg.Capabilities, path+".capabilities", capability.Read|capability.Write, "programs", ps)
		if err := abi.CheckNativeNames(pg.NativeModules); err != nil {
			ps.add(path+".native_modules", "%v", err)
		}
	}
}

func (p *Policy) validatePipelines(ps *problems) {
	progs := make(map[string]bool, len(p.Programs))
	for _, pg := range p.Programs {
		progs[pg.Path] = true
	}
	names := map[string]int{}
	for i, pl := range p.Pipelines {
		path := indexPath("pipelines", i)
		if !nameRE.MatchString(pl.Name) {
			ps.add(path+".name", "%q is not a valid name: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", pl.Name)
		} else if j, dup := names[pl.Name]; dup {
			ps.add(path+".name", "%q is also the name of pipelines[%d]: names must be unique", pl.Name, j)
		} else {
			names[pl.Name] = i
		}
		if len(pl.Steps) == 0 {
			ps.add(path+".steps", "is empty: list the program paths to run in order")
		}
		for j, s := range pl.Steps {
			if !progs[s] {
				ps.add(indexPath(path+".steps", j), "%q is not a program of this policy: list it under programs first", s)
			}
		}
	}
}

func (p *Policy) validateLimits(ps *problems) {
	l := p.Limits
	check := func(name string, v, max int) {
		switch {
		case v < 0:
			ps.add("limits."+name, "is %d: must be positive, or left out for the default", v)
		case v > max:
			ps.add("limits."+name, "is %d: at most %d allowed", v, max)
		}
	}
	check("memory_mib", l.MemoryMiB, MaxMemoryMiB)
	check("exec_seconds", l.ExecSeconds, MaxExecSeconds)
	check("file_mib", l.FileMiB, MaxTotalMiB)
	check("total_mib", l.TotalMiB, MaxTotalMiB)
	if l.FileMiB >= 0 && l.TotalMiB >= 0 && l.File() > l.Total() {
		ps.add("limits.file_mib", "is %d MiB, more than total_mib (%d MiB): a file cannot be larger than the whole file system", l.File()/mib, l.Total()/mib)
	}
}

// validAt adds the problems of a decoded policy at now: the policy, the
// attestation service's CA or a principal's certificate expired.
func (p *Policy) validAt(now time.Time, ps *problems) {
	if !p.Expires.After(now) {
		ps.add("expires", expiredPolicy, p.Expires.Format(time.RFC3339))
	}
	if c := p.ca; c != nil && !now.Before(c.NotAfter) {
		ps.add("attestation.ca_cert", expiredCA, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
	}
	for i := range p.Principals {
		if c := p.Principals[i].cert; c != nil && !now.Before(c.NotAfter) {
			ps.add(indexPath("principals", i)+".cert", expiredPrincipal, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}
