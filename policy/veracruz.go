package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/identity"
)

// WASI preview 1 rights bits, as Veracruz policies write them in
// file_rights. Only these names matter to the import; the order is the
// WASI specification's.
var wasiRights = []string{
	"fd_datasync", "fd_read", "fd_seek", "fd_fdstat_set_flags", "fd_sync",
	"fd_tell", "fd_write", "fd_advise", "fd_allocate", "path_create_directory",
	"path_create_file", "path_link_source", "path_link_target", "path_open",
	"fd_readdir", "path_readlink", "path_rename_source", "path_rename_target",
	"path_filestat_get", "path_filestat_set_size", "path_filestat_set_times",
	"fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times",
	"path_symlink", "path_remove_directory", "path_unlink_file",
	"poll_fd_readwrite", "sock_shutdown", "sock_accept",
}

func wasiBit(name string) uint64 {
	for i, n := range wasiRights {
		if n == name {
			return 1 << i
		}
	}
	panic("unknown WASI right " + name) // only reachable by a typo in this file
}

var (
	// wasiRead grants r.
	wasiRead = wasiBit("fd_read") | wasiBit("fd_readdir")
	// wasiWrite grants w: every way of creating, changing or removing.
	wasiWrite = wasiBit("fd_write") | wasiBit("path_create_file") | wasiBit("path_create_directory") |
		wasiBit("path_filestat_set_size") | wasiBit("fd_filestat_set_size") | wasiBit("fd_allocate") |
		wasiBit("path_rename_source") | wasiBit("path_rename_target") | wasiBit("path_unlink_file") |
		wasiBit("path_remove_directory")
	// wasiNeutral are rights that only help the ones above and grant
	// nothing by themselves in Truce (opening, seeking, metadata, times).
	wasiNeutral = wasiBit("fd_datasync") | wasiBit("fd_seek") | wasiBit("fd_fdstat_set_flags") |
		wasiBit("fd_sync") | wasiBit("fd_tell") | wasiBit("fd_advise") | wasiBit("path_open") |
		wasiBit("path_filestat_get") | wasiBit("path_filestat_set_times") | wasiBit("fd_filestat_get") |
		wasiBit("fd_filestat_set_times") | wasiBit("poll_fd_readwrite")
	// wasiDropped have no Truce equivalent: links and sockets.
	wasiDropped = wasiBit("path_link_source") | wasiBit("path_link_target") | wasiBit("path_readlink") |
		wasiBit("path_symlink") | wasiBit("sock_shutdown") | wasiBit("sock_accept")
)

func wasiNames(mask uint64) string {
	var ns []string
	for i := 0; i < 64; i++ {
		if mask&(1<<i) == 0 {
			continue
		}
		if i < len(wasiRights) {
			ns = append(ns, wasiRights[i])
		} else {
			ns = append(ns, "bit "+strconv.Itoa(i))
		}
	}
	return strings.Join(ns, ", ")
}

// Warning is something of a Veracruz policy that Truce cannot carry over
// exactly: where it is in the Veracruz file and what was done about it.
type Warning struct {
	// Path is the JSON path in the Veracruz file.
	Path string
	// Msg says what could not be carried over and what was done instead.
	Msg string
}

// String writes the warning as "path: message".
func (w Warning) String() string {
	if w.Path == "" {
		return w.Msg
	}
	return w.Path + ": " + w.Msg
}

// veracruzFields are the top-level fields of a Veracruz policy file.
var veracruzFields = []string{
	"identities", "programs", "native_modules", "file_hashes", "pipelines",
	"veracruz_server_url", "enclave_cert_expiry", "ciphersuite",
	"runtime_manager_hash_linux", "runtime_manager_hash_nitro", "runtime_manager_hash_sevsnp",
	"proxy_attestation_server_url", "proxy_service_cert", "debug",
	"execution_strategy", "enable_clock", "max_memory_mib", "std_streams_table",
}

type importer struct {
	ps       problems
	warnings []Warning
}

func (im *importer) warn(path, format string, a ...any) {
	im.warnings = append(im.warnings, Warning{path, fmt.Sprintf(format, a...)})
}

// object decodes raw as a JSON object, reporting fields not in known as
// warnings (Veracruz ignores unknown fields; Truce says so).
func (im *importer) object(raw json.RawMessage, path string, known ...string) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		im.ps.structural(path, "must be an object")
		return nil
	}
	for _, k := range sortedKeys(m) {
		found := false
		for _, f := range known {
			found = found || f == k
		}
		if !found {
			im.warn(fieldPath(path, quoteField(k)), "unknown field, not carried over")
		}
	}
	return m
}

// field decodes m[name] into v; a missing field is a problem when required.
func (im *importer) field(m map[string]json.RawMessage, path, name string, v any, required bool) bool {
	raw, ok := m[name]
	if !ok || string(raw) == "null" {
		if required {
			im.ps.structural(fieldPath(path, name), "missing: this field is required in a Veracruz policy")
		}
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		im.ps.structural(fieldPath(path, name), fmt.Sprintf("has the wrong type: %v", strings.TrimPrefix(err.Error(), "json: ")))
		return false
	}
	return true
}

type vcGrant struct {
	path   string
	rights capability.Rights
	at     string // where in the Veracruz file
}

// fileRights reads Veracruz file_rights in either of its two forms: a list
// of {file_name, rights} with WASI rights bitmasks (read gives r, write
// gives w), or an object of path → "rwx".
func (im *importer) fileRights(raw json.RawMessage, at string) (grants []vcGrant, letters bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			im.ps.structural(at, "must be an object of path to \"rwx\" letters or a list of {file_name, rights}")
			return nil, true
		}
		for _, p := range sortedKeys(m) {
			gp := keyPath(at, p)
			var r capability.Rights
			for _, c := range m[p] {
				switch c {
				case 'r':
					r |= capability.Read
				case 'w':
					r |= capability.Write
				case 'x':
					r |= capability.Execute
				default:
					im.ps.structural(gp, fmt.Sprintf("unknown permission %q: Veracruz permissions are r, w and x", c))
				}
			}
			grants = append(grants, vcGrant{p, r, gp})
		}
		return grants, true
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		im.ps.structural(at, "must be a list of {file_name, rights} or an object of path to \"rwx\"")
		return nil, false
	}
	for i, e := range list {
		ep := indexPath(at, i)
		m := im.object(e, ep, "file_name", "rights")
		if m == nil {
			continue
		}
		var name string
		var mask uint64
		okName := im.field(m, ep, "file_name", &name, true)
		okMask := im.field(m, ep, "rights", &mask, true)
		if !okName || !okMask {
			continue
		}
		var r capability.Rights
		if mask&wasiRead != 0 {
			r |= capability.Read
		}
		if mask&wasiWrite != 0 {
			r |= capability.Write
		}
		known := wasiRead | wasiWrite | wasiNeutral | wasiDropped
		if d := mask & wasiDropped; d != 0 {
			im.warn(ep+".rights", "WASI rights %s have no Truce equivalent (no links or sockets): not carried over", wasiNames(d))
		}
		if u := mask &^ known; u != 0 {
			im.warn(ep+".rights", "unknown WASI rights bits %s (0x%x): not carried over", wasiNames(u), u)
		}
		if r == 0 && mask != 0 {
			im.warn(ep+".rights", "rights %d (%s) neither read nor write in Truce: grant not carried over", mask, wasiNames(mask))
		}
		grants = append(grants, vcGrant{name, r, ep + ".file_name"})
	}
	return grants, false
}

// grantPath turns a Veracruz path into a Truce grant path. Veracruz matches
// paths by prefix, component-wise, so a grant on /a covers /a/b: in Truce
// that is the directory grant /a/, which also covers /a itself. Exact
// files (programs, hashed files) keep their path. Standard streams are
// not paths in Truce: "" is returned.
func (im *importer) grantPath(p, at string, files map[string]bool) string {
	switch p {
	case "stdin", "stdout", "stderr":
		im.warn(at, "standard stream %q has no path in Truce (a run returns the program's output): grant not carried over", p)
		return ""
	}
	orig := p
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if strings.HasSuffix(p, "/") || files[p] {
		if p != orig {
			im.warn(at, "path %q written as %q", orig, p)
		}
		return p
	}
	clean := path.Clean(p)
	if clean != "/" {
		clean += "/"
	}
	im.warn(at, "Veracruz grants on %q cover everything below it: written as %q", orig, clean)
	return clean
}

// ImportVeracruz converts a Veracruz policy file into a Truce policy. The
// result is not validated: the caller may override fields (such as the
// runtimes, whose Veracruz hashes measure Veracruz's runtime, not Truce's),
// then Encode and Parse it. Everything that cannot be carried over exactly
// is returned as a warning; a file that cannot be converted at all gives a
// *ValidationError whose paths name places in the Veracruz file.
func ImportVeracruz(data []byte) (*Policy, []Warning, error) {
	im := &importer{}
	if _, prob := parseTree(data); prob != nil {
		im.ps.structural(prob.Path, prob.Msg)
		return nil, nil, im.ps.err()
	}
	top := im.object(data, "", veracruzFields...)
	if top == nil {
		return nil, nil, im.ps.err()
	}
	p := &Policy{Version: Version, Principals: []Principal{}, Programs: []Program{}}

	// The file hashes first: they pin programs, and name exact files.
	hashes := map[string]string{}
	hashAt := map[string]string{}
	var fhs []json.RawMessage
	im.field(top, "", "file_hashes", &fhs, false)
	for i, raw := range fhs {
		at := indexPath("file_hashes", i)
		m := im.object(raw, at, "file_path", "hash")
		var fp, h string
		if m == nil || !im.field(m, at, "file_path", &fp, true) || !im.field(m, at, "hash", &h, true) {
			continue
		}
		if !strings.HasPrefix(fp, "/") {
			fp = "/" + fp
		}
		if _, dup := hashes[fp]; dup {
			im.ps.add(at+".file_path", "%q is hashed twice", fp)
			continue
		}
		hashes[fp] = strings.ToLower(h)
		hashAt[fp] = at
	}

	// Programs.
	var progs []json.RawMessage
	im.field(top, "", "programs", &progs, true)
	files := map[string]bool{}
	for fp := range hashes {
		files[fp] = true
	}
	type progIn struct {
		path   string
		rights json.RawMessage
		at     string
	}
	var pins []progIn
	for i, raw := range progs {
		at := indexPath("programs", i)
		m := im.object(raw, at, "program_file_name", "id", "file_rights")
		var name string
		var fr json.RawMessage
		if m == nil || !im.field(m, at, "program_file_name", &name, true) {
			continue
		}
		im.field(m, at, "file_rights", &fr, true)
		if !strings.HasPrefix(name, "/") {
			im.warn(at+".program_file_name", "path %q written as %q", name, "/"+name)
			name = "/" + name
		}
		files[name] = true
		pins = append(pins, progIn{name, fr, at})
	}
	for _, pi := range pins {
		h, ok := hashes[pi.path]
		if !ok {
			im.ps.add(pi.at+".program_file_name", "%s has no entry in file_hashes: Truce pins every program by its SHA-256; add {\"file_path\": %q, \"hash\": \"<sha256 hex>\"}", pi.path, pi.path)
		}
		pg := Program{Path: pi.path, SHA256: h, Capabilities: capability.Set{}}
		if pi.rights != nil {
			grants, _ := im.fileRights(pi.rights, pi.at+".file_rights")
			for _, g := range grants {
				gp := im.grantPath(g.path, g.at, files)
				if gp == "" {
					continue
				}
				r := g.rights
				if extra := r &^ (capability.Read | capability.Write); extra != 0 {
					im.warn(g.at, "programs get only r and w in Truce: %q not carried over", extra.String())
					r &= capability.Read | capability.Write
				}
				if r != 0 {
					pg.Capabilities[gp] |= r
				}
			}
		}
		p.Programs = append(p.Programs, pg)
	}
	for _, fp := range sortedKeys(hashes) {
		if p.Program(fp) == nil {
			im.warn(hashAt[fp], "%s is not a program: Truce pins only programs by hash, so the hash of this data file is not carried over; its owner must check the data another way", fp)
		}
	}

	// Identities.
	var ids []json.RawMessage
	im.field(top, "", "identities", &ids, true)
	usedNames := map[string]bool{}
	for i, raw := range ids {
		at := indexPath("identities", i)
		m := im.object(raw, at, "certificate", "id", "file_rights")
		if m == nil {
			continue
		}
		var certPEM string
		var id int64
		var fr json.RawMessage
		im.field(m, at, "certificate", &certPEM, true)
		hasID := im.field(m, at, "id", &id, false)
		im.field(m, at, "file_rights", &fr, true)
		pr := Principal{Cert: certPEM, Capabilities: capability.Set{}}
		// The name: the certificate's common name when usable, else id<N>.
		if c, err := identity.ParseCertificatePEM([]byte(certPEM)); err == nil && identity.ValidName(c.Subject.CommonName) && !usedNames[c.Subject.CommonName] {
			pr.Name = c.Subject.CommonName
		} else {
			n := int64(i)
			if hasID {
				n = id
			}
			pr.Name = "id" + strconv.FormatInt(n, 10)
			for usedNames[pr.Name] {
				pr.Name += "_"
			}
			im.warn(at, "Veracruz identities have numbers, Truce principals names: called %q", pr.Name)
		}
		usedNames[pr.Name] = true
		if fr != nil {
			grants, letters := im.fileRights(fr, at+".file_rights")
			for _, g := range grants {
				gp := im.grantPath(g.path, g.at, files)
				if gp == "" {
					continue
				}
				r := g.rights
				if !letters {
					// Veracruz lets an identity that may read a program's
					// file ask for the program to run.
					for _, pg := range p.Programs {
						if r.Has(capability.Read) && capability.Covers(gp, pg.Path) {
							r |= capability.Execute
						}
					}
				}
				if r&capability.Execute != 0 {
					covers := false
					for _, pg := range p.Programs {
						covers = covers || capability.Covers(gp, pg.Path)
					}
					if !covers {
						im.warn(g.at, "x on %q covers no program: not carried over", gp)
						r &^= capability.Execute
					}
				}
				if r != 0 {
					pr.Capabilities[gp] |= r
				}
			}
		}
		warnLongestPrefix(im, at, pr.Capabilities)
		p.Principals = append(p.Principals, pr)
	}
	for i := range p.Programs {
		warnLongestPrefix(im, indexPath("programs", i), p.Programs[i].Capabilities)
	}

	// Pipelines: Veracruz scripts; sequences of programs carry over.
	var pls []json.RawMessage
	im.field(top, "", "pipelines", &pls, false)
	for i, raw := range pls {
		at := indexPath("pipelines", i)
		m := im.object(raw, at, "name", "id", "pipeline", "file_rights")
		var name, script string
		if m == nil || !im.field(m, at, "name", &name, true) || !im.field(m, at, "pipeline", &script, true) {
			continue
		}
		if _, ok := m["file_rights"]; ok {
			im.warn(at+".file_rights", "a Truce pipeline runs each program with its own rights: the pipeline's rights are not carried over")
		}
		steps, ok := pipelineSteps(script)
		if !ok {
			im.warn(at+".pipeline", "%q is not a plain sequence of programs (Truce pipelines have no conditions): pipeline %q not carried over", truncate(script), name)
			continue
		}
		p.Pipelines = append(p.Pipelines, Pipeline{Name: name, Steps: steps})
	}
	var natives []json.RawMessage
	if im.field(top, "", "native_modules", &natives, false) && len(natives) > 0 {
		im.warn("native_modules", "Truce runs WebAssembly only: %d native modules not carried over", len(natives))
	}

	// Where and when.
	var server, pasURL, pasCert string
	if im.field(top, "", "veracruz_server_url", &server, true) {
		p.Host = strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
		p.Host = strings.TrimSuffix(p.Host, "/")
	}
	if im.field(top, "", "proxy_attestation_server_url", &pasURL, true) {
		if !strings.Contains(pasURL, "://") {
			im.warn("proxy_attestation_server_url", "%q has no scheme: written as https://%s", pasURL, pasURL)
			pasURL = "https://" + pasURL
		}
		p.Attestation.Service = pasURL
	}
	if im.field(top, "", "proxy_service_cert", &pasCert, true) {
		p.Attestation.CACert = pasCert
	}
	var tp struct {
		Year   int `json:"year"`
		Month  int `json:"month"`
		Day    int `json:"day"`
		Hour   int `json:"hour"`
		Minute int `json:"minute"`
	}
	var tpRaw json.RawMessage
	if im.field(top, "", "enclave_cert_expiry", &tpRaw, true) {
		if m := im.object(tpRaw, "enclave_cert_expiry", "year", "month", "day", "hour", "minute"); m != nil {
			ok := true
			for _, f := range []struct {
				name string
				v    *int
				lo   int
				hi   int
			}{{"year", &tp.Year, 1, 9999}, {"month", &tp.Month, 1, 12}, {"day", &tp.Day, 1, 31}, {"hour", &tp.Hour, 0, 23}, {"minute", &tp.Minute, 0, 59}} {
				if !im.field(m, "enclave_cert_expiry", f.name, f.v, true) {
					ok = false
				} else if *f.v < f.lo || *f.v > f.hi {
					im.ps.add("enclave_cert_expiry."+f.name, "%d is out of range %d to %d", *f.v, f.lo, f.hi)
					ok = false
				}
			}
			if ok {
				t := time.Date(tp.Year, time.Month(tp.Month), tp.Day, tp.Hour, tp.Minute, 0, 0, time.UTC)
				if t.Day() != tp.Day {
					im.ps.add("enclave_cert_expiry.day", "%d-%02d has no day %d", tp.Year, tp.Month, tp.Day)
				}
				p.Expires = t
			}
		}
	}

	// Trusted runtimes: Veracruz pins its own runtime manager.
	for _, h := range []struct{ field, platform string }{
		{"runtime_manager_hash_linux", "sim"},
		{"runtime_manager_hash_nitro", "nitro"},
		{"runtime_manager_hash_sevsnp", "snp"},
	} {
		var v string
		if !im.field(top, "", h.field, &v, false) || v == "" {
			continue
		}
		p.Attestation.Runtimes = append(p.Attestation.Runtimes, Runtime{Platform: h.platform, Measurement: strings.ToLower(v)})
		im.warn(h.field, "pinned as the %s measurement, but it measures Veracruz's runtime manager, which a Truce runtime never matches: replace it (truce measure --platform %s)", h.platform, h.platform)
	}

	// The rest has no Truce equivalent.
	var cs, strategy string
	var debug, clock bool
	var mem int64
	if im.field(top, "", "ciphersuite", &cs, false) {
		im.warn("ciphersuite", "%q not carried over: Truce always uses TLS 1.3 with Go's default suites", cs)
	}
	if im.field(top, "", "debug", &debug, false) && debug {
		im.warn("debug", "debug mode not carried over: Truce programs never write to the host")
	}
	if im.field(top, "", "execution_strategy", &strategy, false) {
		im.warn("execution_strategy", "%q not carried over: the host chooses the WebAssembly engine", strategy)
	}
	if im.field(top, "", "enable_clock", &clock, false) && !clock {
		im.warn("enable_clock", "false not carried over: Truce programs can always read the clocks")
	}
	if im.field(top, "", "max_memory_mib", &mem, false) {
		switch {
		case mem <= 0:
			im.warn("max_memory_mib", "%d not carried over: the default of %d MiB applies", mem, DefaultMemoryMiB)
		case mem > MaxMemoryMiB:
			im.warn("max_memory_mib", "%d is more than a WebAssembly memory can hold: written as %d", mem, MaxMemoryMiB)
			p.Limits.MemoryMiB = MaxMemoryMiB
		default:
			p.Limits.MemoryMiB = int(mem)
		}
	}
	if _, ok := top["std_streams_table"]; ok {
		im.warn("std_streams_table", "standard streams have no paths in Truce: not carried over")
	}
	if err := im.ps.err(); err != nil {
		return nil, im.warnings, err
	}
	return p, im.warnings, nil
}

// warnLongestPrefix reports where Veracruz and Truce read the same grants
// differently: Veracruz applies only the longest matching path, Truce the
// union of all, so a narrower grant cannot take rights away in Truce.
func warnLongestPrefix(im *importer, at string, set capability.Set) {
	for _, outer := range set.Paths() {
		for _, inner := range set.Paths() {
			if outer == inner || !capability.Covers(outer, strings.TrimSuffix(inner, "/")) {
				continue
			}
			if more := set[outer] &^ set[inner]; more != 0 {
				im.warn(at, "in Veracruz the grant on %q replaced the one on %q; in Truce grants add up, so %q also gets %q", inner, outer, inner, more.String())
			}
		}
	}
}

// pipelineSteps reads a Veracruz pipeline script that is a plain sequence
// of program paths separated by ';' or new lines.
func pipelineSteps(script string) ([]string, bool) {
	var steps []string
	for _, s := range strings.FieldsFunc(script, func(r rune) bool { return r == ';' || r == '\n' }) {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.ContainsAny(s, "{}() \t") || s == "if" || s == "else" {
			return nil, false
		}
		if !strings.HasPrefix(s, "/") {
			s = "/" + s
		}
		steps = append(steps, s)
	}
	return steps, len(steps) > 0
}
