package policy

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
)

// TestValidate has one case per validation rule: valid variants must parse,
// and each invalid one must be refused with a problem at the given JSON
// path whose message contains the given words.
func TestValidate(t *testing.T) {
	f := fixtures(t)
	valid := []struct {
		name string
		edit func(p *Policy)
	}{
		{"as made", func(p *Policy) {}},
		{"nitro with pcrs", func(p *Policy) {
			p.Attestation.Runtimes = append(p.Attestation.Runtimes, Runtime{Platform: "nitro", Measurement: hexOf(48, 1),
				Extra: map[string]string{"pcr1": hexOf(48, 2), "pcr2": hexOf(48, 3), "pcr8": hexOf(48, 4)}})
		}},
		{"snp 48", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "snp", Measurement: hexOf(48, 1)} }},
		{"tdx 48 with rtmr", func(p *Policy) {
			p.Attestation.Runtimes[0] = Runtime{Platform: "tdx", Measurement: hexOf(48, 1), Extra: map[string]string{"rtmr0": hexOf(48, 9)}}
		}},
		{"sgx 32 with mrsigner", func(p *Policy) {
			p.Attestation.Runtimes[0] = Runtime{Platform: "sgx", Measurement: hexOf(32, 1), Extra: map[string]string{"mrsigner": hexOf(32, 2)}}
		}},
		{"cca 32", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "cca", Measurement: hexOf(32, 1)} }},
		{"cca 48", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "cca", Measurement: hexOf(48, 1)} }},
		{"cca 64", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "cca", Measurement: hexOf(64, 1)} }},
		{"psa 64", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "psa", Measurement: hexOf(64, 1)} }},
		{"upper-case hex", func(p *Policy) { p.Programs[0].SHA256 = strings.ToUpper(progHash) }},
		{"host name and ipv6", func(p *Policy) { p.Host = "[::1]:443"; p.Attestation.Service = "https://pas.example.com:8443/v1" }},
		{"pipeline", func(p *Policy) {
			p.Programs = append(p.Programs, Program{Path: "/program/b.wasm", SHA256: prog2Hash, Capabilities: capability.Set{"/output/": capability.Read | capability.Write}})
			p.Principals[1].Capabilities["/program/"] = capability.Execute
			p.Pipelines = []Pipeline{{Name: "two", Steps: []string{"/program/shamir.wasm", "/program/b.wasm"}}}
		}},
		{"limits at maxima", func(p *Policy) {
			p.Limits = Limits{MemoryMiB: MaxMemoryMiB, ExecSeconds: MaxExecSeconds, FileMiB: MaxTotalMiB, TotalMiB: MaxTotalMiB}
		}},
		{"program with no capabilities", func(p *Policy) { p.Programs[0].Capabilities = capability.Set{} }},
		{"program with a native module", func(p *Policy) { p.Programs[0].NativeModules = []string{"truce_crypto"} }},
		{"directory x grant covering a program", func(p *Policy) {
			p.Principals[1].Capabilities = capability.Set{"/program/": capability.Execute}
		}},
		{"budgets, holds and a quorum", func(p *Policy) {
			until := testNow.Add(time.Hour)
			p.Principals[0].Budgets = map[string]Budget{"/input/alice/": {MaxRuns: 3, NotAfter: &until}}
			p.Holds = []Hold{{Path: "/output/", ReleaseBy: []string{"alice", "bob"}}}
			p.Lifecycle = &Lifecycle{Quorum: &Quorum{Threshold: 2, Of: []string{"alice", "bob"}}}
		}},
		{"once", func(p *Policy) { p.Principals[0].Budgets = map[string]Budget{"/input/alice/": {Once: true}} }},
		{"successor", func(p *Policy) {
			p.Lifecycle = &Lifecycle{Predecessor: &Predecessor{Genesis: hexOf(32, 1), Policy: hexOf(32, 2), Sequence: 2}, CarryOver: []string{"/input/", "/output/x"}}
		}},
		{"minimum tcb on snp, tdx and sgx", func(p *Policy) {
			p.Attestation.MinimumTCB = map[string]TCB{
				"snp": {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68},
				"tdx": {"pce_svn": 11, "tee_tcb_svn.0": 3, "cpu_svn.15": 0},
				"sgx": {"isv_svn": 1, "pce_svn": 13, "cpu_svn.4": MaxSVN},
			}
		}},
		{"revoked measurements", func(p *Policy) {
			p.Attestation.Revoked = []Revocation{{Platform: "sim", Measurement: hexOf(32, 7), Reason: "TRUCE-2026-01"}, {Platform: "nitro", Measurement: hexOf(48, 7)}}
		}},
	}
	for _, c := range valid {
		t.Run("valid/"+c.name, func(t *testing.T) {
			p := validPolicy(t)
			c.edit(p)
			mustParse(t, encode(t, p))
		})
	}

	invalid := []struct {
		name string
		edit func(p *Policy)
		path string // the JSON path of the problem
		msg  string // words the message must contain
	}{
		{"version", func(p *Policy) { p.Version = 2 }, "version", "must be 1"},
		{"budget off grant", func(p *Policy) { p.Principals[0].Budgets = map[string]Budget{"/input/": {Once: true}} }, `principals[0].budgets["/input/"]`, "names no grant"},
		{"budget on read grant", func(p *Policy) { p.Principals[1].Budgets = map[string]Budget{"/output/": {Once: true}} }, `principals[1].budgets["/output/"]`, "names no grant"},
		{"budget empty", func(p *Policy) { p.Principals[0].Budgets = map[string]Budget{"/input/alice/": {}} }, `principals[0].budgets["/input/alice/"]`, "limits nothing"},
		{"budget once and max", func(p *Policy) {
			p.Principals[0].Budgets = map[string]Budget{"/input/alice/": {Once: true, MaxRuns: 2}}
		}, `principals[0].budgets["/input/alice/"]`, "both once and max_runs"},
		{"budget negative", func(p *Policy) { p.Principals[0].Budgets = map[string]Budget{"/input/alice/": {MaxRuns: -1}} }, `principals[0].budgets["/input/alice/"].max_runs`, "positive"},
		{"hold stranger", func(p *Policy) { p.Holds = []Hold{{Path: "/output/", ReleaseBy: []string{"eve"}}} }, "holds[0].release_by[0]", "not a principal"},
		{"hold nobody", func(p *Policy) { p.Holds = []Hold{{Path: "/output/", ReleaseBy: []string{}}} }, "holds[0].release_by", "empty"},
		{"hold path", func(p *Policy) { p.Holds = []Hold{{Path: "output", ReleaseBy: []string{"bob"}}} }, "holds[0].path", "not absolute"},
		{"quorum too high", func(p *Policy) {
			p.Lifecycle = &Lifecycle{Quorum: &Quorum{Threshold: 3, Of: []string{"alice", "bob"}}}
		}, "lifecycle.quorum.threshold", "from 1 to 2"},
		{"quorum zero", func(p *Policy) { p.Lifecycle = &Lifecycle{Quorum: &Quorum{Threshold: 0, Of: []string{"alice"}}} }, "lifecycle.quorum.threshold", "from 1 to 1"},
		{"quorum twice", func(p *Policy) {
			p.Lifecycle = &Lifecycle{Quorum: &Quorum{Threshold: 2, Of: []string{"alice", "alice"}}}
		}, "lifecycle.quorum.of[1]", "named twice"},
		{"quorum stranger", func(p *Policy) { p.Lifecycle = &Lifecycle{Quorum: &Quorum{Threshold: 1, Of: []string{"eve"}}} }, "lifecycle.quorum.of[0]", "not a principal"},
		{"carry without predecessor", func(p *Policy) { p.Lifecycle = &Lifecycle{CarryOver: []string{"/input/"}} }, "lifecycle.carry_over", "only for a successor"},
		{"predecessor bad hash", func(p *Policy) {
			p.Lifecycle = &Lifecycle{Predecessor: &Predecessor{Genesis: "AB", Policy: hexOf(32, 2), Sequence: 2}}
		}, "lifecycle.predecessor.genesis", "64 lower-case hex"},
		{"predecessor sequence 0", func(p *Policy) {
			p.Lifecycle = &Lifecycle{Predecessor: &Predecessor{Genesis: hexOf(32, 1), Policy: hexOf(32, 2), Sequence: 0}}
		}, "lifecycle.predecessor.sequence", "first successor is 1"},
		{"first successor names two", func(p *Policy) {
			p.Lifecycle = &Lifecycle{Predecessor: &Predecessor{Genesis: hexOf(32, 1), Policy: hexOf(32, 2), Sequence: 1}}
		}, "lifecycle.predecessor", "same hash"},
		{"carry twice", func(p *Policy) {
			p.Lifecycle = &Lifecycle{Predecessor: &Predecessor{Genesis: hexOf(32, 1), Policy: hexOf(32, 2), Sequence: 2}, CarryOver: []string{"/a", "/a"}}
		}, "lifecycle.carry_over[1]", "listed twice"},
		{"unknown native module", func(p *Policy) { p.Programs[0].NativeModules = []string{"truce_gpu"} }, "programs[0].native_modules", `unknown native module "truce_gpu"`},
		{"native module twice", func(p *Policy) { p.Programs[0].NativeModules = []string{"truce_crypto", "truce_crypto"} }, "programs[0].native_modules", "named twice"},
		{"empty name", func(p *Policy) { p.Name = " " }, "name", "empty"},
		{"control in name", func(p *Policy) { p.Name = "a\x07b" }, "name", "control"},
		{"long name", func(p *Policy) { p.Name = strings.Repeat("n", 129) }, "name", "at most 128"},
		{"expired", func(p *Policy) { p.Expires = testNow.Add(-time.Second) }, "expires", "in the past"},
		{"expires now", func(p *Policy) { p.Expires = testNow }, "expires", "in the past"},
		{"host empty", func(p *Policy) { p.Host = "" }, "host", "empty"},
		{"host with scheme", func(p *Policy) { p.Host = "https://a:1" }, "host", "without a scheme"},
		{"host without port", func(p *Policy) { p.Host = "localhost" }, "host", "not host:port"},
		{"host port 0", func(p *Policy) { p.Host = "a:0" }, "host", "1 to 65535"},
		{"host port big", func(p *Policy) { p.Host = "a:70000" }, "host", "1 to 65535"},
		{"host no name", func(p *Policy) { p.Host = ":3017" }, "host", "no host name"},
		{"service http", func(p *Policy) { p.Attestation.Service = "http://a:1" }, "attestation.service", "https://"},
		{"service empty", func(p *Policy) { p.Attestation.Service = "" }, "attestation.service", "empty"},
		{"service no host", func(p *Policy) { p.Attestation.Service = "https:///x" }, "attestation.service", "no host"},
		{"service query", func(p *Policy) { p.Attestation.Service = "https://a/?q=1" }, "attestation.service", "query"},
		{"service user", func(p *Policy) { p.Attestation.Service = "https://u:p@a/" }, "attestation.service", "user"},
		{"service bad port", func(p *Policy) { p.Attestation.Service = "https://a:99999" }, "attestation.service", "port"},
		{"ca empty", func(p *Policy) { p.Attestation.CACert = "" }, "attestation.ca_cert", "empty"},
		{"ca not pem", func(p *Policy) { p.Attestation.CACert = "hello" }, "attestation.ca_cert", "no PEM"},
		{"ca not a CA", func(p *Policy) { p.Attestation.CACert = f.nonCAPEM }, "attestation.ca_cert", "not a CA"},
		{"ca is a client cert", func(p *Policy) { p.Attestation.CACert = f.alicePEM }, "attestation.ca_cert", "not a CA"},
		{"ca two blocks", func(p *Policy) { p.Attestation.CACert = f.caPEM + f.caPEM }, "attestation.ca_cert", "more than one"},
		{"ca bad der", func(p *Policy) {
			p.Attestation.CACert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}, "attestation.ca_cert", "parsing certificate"},
		{"no runtimes", func(p *Policy) { p.Attestation.Runtimes = []Runtime{} }, "attestation.runtimes", "at least one"},
		{"unknown platform", func(p *Policy) { p.Attestation.Runtimes[0].Platform = "tpm" }, "attestation.runtimes[0].platform", "unknown platform"},
		{"minimum tcb on nitro", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"nitro": {"firmware": 1}} }, `attestation.minimum_tcb["nitro"]`, "Nitro attestation documents carry no firmware or TCB versions"},
		{"minimum tcb on sim", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"sim": {"x": 1}} }, `attestation.minimum_tcb["sim"]`, "no TCB components"},
		{"minimum tcb on cca", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"cca": {"x": 1}} }, `attestation.minimum_tcb["cca"]`, "no TCB components"},
		{"minimum tcb unknown platform", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"tpm": {"x": 1}} }, `attestation.minimum_tcb["tpm"]`, "unknown platform"},
		{"minimum tcb empty", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"snp": {}} }, `attestation.minimum_tcb["snp"]`, "name at least one of bootloader, tee, snp, microcode"},
		{"minimum tcb unknown component", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"snp": {"fmc": 1}} }, `attestation.minimum_tcb["snp"]["fmc"]`, "unknown TCB component of snp"},
		{"minimum tcb tdx component out of vector", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"tdx": {"tee_tcb_svn.16": 1}} }, `attestation.minimum_tcb["tdx"]["tee_tcb_svn.16"]`, "unknown TCB component"},
		{"minimum tcb negative", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"snp": {"microcode": -1}} }, `attestation.minimum_tcb["snp"]["microcode"]`, "from 0 to 65535"},
		{"minimum tcb too large", func(p *Policy) { p.Attestation.MinimumTCB = map[string]TCB{"sgx": {"isv_svn": MaxSVN + 1}} }, `attestation.minimum_tcb["sgx"]["isv_svn"]`, "from 0 to 65535"},
		{"revoked unknown platform", func(p *Policy) { p.Attestation.Revoked = []Revocation{{Platform: "tpm", Measurement: hexOf(32, 1)}} }, "attestation.revoked[0].platform", "unknown platform"},
		{"revoked wrong size", func(p *Policy) { p.Attestation.Revoked = []Revocation{{Platform: "sim", Measurement: hexOf(48, 1)}} }, "attestation.revoked[0].measurement", "must be 32 bytes"},
		{"revoked twice", func(p *Policy) {
			p.Attestation.Revoked = []Revocation{{Platform: "sim", Measurement: hexOf(32, 7)}, {Platform: "sim", Measurement: strings.ToUpper(hexOf(32, 7))}}
		}, "attestation.revoked[1]", "list each once"},
		{"revoked and trusted", func(p *Policy) {
			p.Attestation.Revoked = []Revocation{{Platform: "sim", Measurement: strings.ToUpper(simMeasurement)}}
		}, "attestation.revoked[0]", "revokes the measurement attestation.runtimes[0] trusts"},
		{"revoked reason with control", func(p *Policy) {
			p.Attestation.Revoked = []Revocation{{Platform: "sim", Measurement: hexOf(32, 7), Reason: "a\nb\x1b"}}
		}, "attestation.revoked[0].reason", "control characters"},
		{"sim 48", func(p *Policy) { p.Attestation.Runtimes[0].Measurement = hexOf(48, 1) }, "attestation.runtimes[0].measurement", "must be 32 bytes"},
		{"measurement not hex", func(p *Policy) { p.Attestation.Runtimes[0].Measurement = "zz" }, "attestation.runtimes[0].measurement", "not hex"},
		{"measurement odd", func(p *Policy) { p.Attestation.Runtimes[0].Measurement = simMeasurement + "a" }, "attestation.runtimes[0].measurement", "not hex"},
		{"measurement empty", func(p *Policy) { p.Attestation.Runtimes[0].Measurement = "" }, "attestation.runtimes[0].measurement", "is 0 bytes"},
		{"nitro 32", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "nitro", Measurement: hexOf(32, 1)} }, "attestation.runtimes[0].measurement", "48 bytes"},
		{"snp 32", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "snp", Measurement: hexOf(32, 1)} }, "attestation.runtimes[0].measurement", "48 bytes"},
		{"tdx 32", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "tdx", Measurement: hexOf(32, 1)} }, "attestation.runtimes[0].measurement", "48 bytes"},
		{"sgx 48", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "sgx", Measurement: hexOf(48, 1)} }, "attestation.runtimes[0].measurement", "32 bytes"},
		{"cca 40", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "cca", Measurement: hexOf(40, 1)} }, "attestation.runtimes[0].measurement", "32 bytes (64 hex digits) or 48"},
		{"psa 16", func(p *Policy) { p.Attestation.Runtimes[0] = Runtime{Platform: "psa", Measurement: hexOf(16, 1)} }, "attestation.runtimes[0].measurement", "must be 32"},
		{"sim extra", func(p *Policy) { p.Attestation.Runtimes[0].Extra = map[string]string{"pcr1": hexOf(48, 1)} }, `attestation.runtimes[0].extra["pcr1"]`, "no extra pins"},
		{"nitro unknown pin", func(p *Policy) {
			p.Attestation.Runtimes[0] = Runtime{Platform: "nitro", Measurement: hexOf(48, 1), Extra: map[string]string{"pcr9": hexOf(48, 1)}}
		}, `attestation.runtimes[0].extra["pcr9"]`, "unknown pin"},
		{"nitro pin size", func(p *Policy) {
			p.Attestation.Runtimes[0] = Runtime{Platform: "nitro", Measurement: hexOf(48, 1), Extra: map[string]string{"pcr1": hexOf(32, 1)}}
		}, `attestation.runtimes[0].extra["pcr1"]`, "48 bytes"},
		{"duplicate runtime", func(p *Policy) {
			p.Attestation.Runtimes = append(p.Attestation.Runtimes, Runtime{Platform: "sim", Measurement: strings.ToUpper(simMeasurement)})
		}, "attestation.runtimes[1]", "same platform and measurement"},
		{"no principals", func(p *Policy) { p.Principals = []Principal{}; p.Programs = []Program{} }, "principals", "at least one"},
		{"bad principal name", func(p *Policy) { p.Principals[0].Name = "a b" }, "principals[0].name", "not a valid name"},
		{"empty principal name", func(p *Policy) { p.Principals[0].Name = "" }, "principals[0].name", "not a valid name"},
		{"duplicate principal name", func(p *Policy) { p.Principals[1].Name = "alice" }, "principals[1].name", "unique"},
		{"principal cert empty", func(p *Policy) { p.Principals[0].Cert = "" }, "principals[0].cert", "empty"},
		{"principal cert is key", func(p *Policy) {
			p.Principals[0].Cert = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
		}, "principals[0].cert", "not CERTIFICATE"},
		{"duplicate cert", func(p *Policy) { p.Principals[1].Cert = f.alicePEM }, "principals[1].cert", "same certificate as principals[0]"},
		{"expired cert", func(p *Policy) { p.Principals[0].Cert = f.expiredPEM }, "principals[0].cert", "expired"},
		{"server-only cert", func(p *Policy) { p.Principals[0].Cert = f.serverOnlyPEM }, "principals[0].cert", "client authentication"},
		{"relative grant", func(p *Policy) { p.Principals[0].Capabilities = capability.Set{"input/": capability.Read} }, `principals[0].capabilities["input/"]`, "not absolute"},
		{"dotdot grant", func(p *Policy) { p.Principals[0].Capabilities = capability.Set{"/input/../x": capability.Read} }, `principals[0].capabilities["/input/../x"]`, `".."`},
		{"double slash grant", func(p *Policy) { p.Principals[0].Capabilities = capability.Set{"/a//b": capability.Read} }, `principals[0].capabilities["/a//b"]`, "empty element"},
		{"x on nothing", func(p *Policy) { p.Principals[0].Capabilities = capability.Set{"/tools/": capability.Execute} }, `principals[0].capabilities["/tools/"]`, "no program"},
		{"program x right", func(p *Policy) { p.Programs[0].Capabilities["/bin/"] = capability.Execute }, `programs[0].capabilities["/bin/"]`, `only "rw" rights, not "x"`},
		{"program a right", func(p *Policy) { p.Programs[0].Capabilities["/log"] = capability.Append }, `programs[0].capabilities["/log"]`, `not "a"`},
		{"program relative grant", func(p *Policy) { p.Programs[0].Capabilities["out"] = capability.Read }, `programs[0].capabilities["out"]`, "not absolute"},
		{"program path dir", func(p *Policy) { p.Programs[0].Path = "/program/" }, "programs[0].path", "directory"},
		{"program path relative", func(p *Policy) { p.Programs[0].Path = "prog.wasm" }, "programs[0].path", "not absolute"},
		{"program path dotdot", func(p *Policy) { p.Programs[0].Path = "/program/../p.wasm" }, "programs[0].path", `".."`},
		{"duplicate program", func(p *Policy) { p.Programs = append(p.Programs, p.Programs[0]) }, "programs[1].path", "unique"},
		{"sha256 short", func(p *Policy) { p.Programs[0].SHA256 = hexOf(20, 1) }, "programs[0].sha256", "32 bytes"},
		{"sha256 not hex", func(p *Policy) { p.Programs[0].SHA256 = strings.Repeat("g", 64) }, "programs[0].sha256", "not hex"},
		{"nobody runs program", func(p *Policy) { p.Principals[1].Capabilities = capability.Set{"/output/": capability.Read} }, "programs[0]", "nobody may run"},
		{"pipeline unknown step", func(p *Policy) {
			p.Pipelines = []Pipeline{{Name: "p", Steps: []string{"/program/shamir.wasm", "/program/none.wasm"}}}
		}, "pipelines[0].steps[1]", "not a program"},
		{"pipeline no steps", func(p *Policy) { p.Pipelines = []Pipeline{{Name: "p", Steps: []string{}}} }, "pipelines[0].steps", "empty"},
		{"pipeline bad name", func(p *Policy) { p.Pipelines = []Pipeline{{Name: "", Steps: []string{"/program/shamir.wasm"}}} }, "pipelines[0].name", "not a valid name"},
		{"pipeline duplicate", func(p *Policy) {
			p.Pipelines = []Pipeline{{Name: "p", Steps: []string{"/program/shamir.wasm"}}, {Name: "p", Steps: []string{"/program/shamir.wasm"}}}
		}, "pipelines[1].name", "unique"},
		{"memory negative", func(p *Policy) { p.Limits.MemoryMiB = -1 }, "limits.memory_mib", "positive"},
		{"memory too big", func(p *Policy) { p.Limits.MemoryMiB = MaxMemoryMiB + 1 }, "limits.memory_mib", "at most"},
		{"exec too long", func(p *Policy) { p.Limits.ExecSeconds = MaxExecSeconds + 1 }, "limits.exec_seconds", "at most"},
		{"exec negative", func(p *Policy) { p.Limits.ExecSeconds = -5 }, "limits.exec_seconds", "positive"},
		{"total too big", func(p *Policy) { p.Limits.TotalMiB = MaxTotalMiB + 1 }, "limits.total_mib", "at most"},
		{"file above total", func(p *Policy) { p.Limits.FileMiB = 10; p.Limits.TotalMiB = 5 }, "limits.file_mib", "more than total_mib"},
		{"file above default total", func(p *Policy) { p.Limits.FileMiB = DefaultTotalMiB + 1 }, "limits.file_mib", "more than total_mib"},
	}
	for _, c := range invalid {
		t.Run("invalid/"+c.name, func(t *testing.T) {
			p := validPolicy(t)
			c.edit(p)
			data := encode(t, p)
			expectProblem(t, data, c.path, c.msg)
		})
	}
}

// expectProblem parses data and requires a problem at path mentioning msg.
func expectProblem(t *testing.T, data []byte, path, msg string) {
	t.Helper()
	p, err := Parse(data, testNow)
	if err == nil {
		t.Fatalf("accepted, want a problem at %s: %s\n%s", path, msg, data)
	}
	if p != nil {
		t.Errorf("Parse returned a policy with an error")
	}
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %T is not a *ValidationError matching ErrInvalid: %v", err, err)
	}
	for _, pr := range ve.Problems {
		if pr.Path == path && strings.Contains(pr.Msg, msg) {
			if !strings.Contains(err.Error(), pr.String()) {
				t.Errorf("Error() %q does not include problem %q", err, pr)
			}
			return
		}
	}
	t.Fatalf("no problem at %q containing %q; got:\n%v", path, msg, err)
}

// TestStrictSyntax covers what is wrong with the file itself rather than a
// field's value: every case names where in the file the problem is.
func TestStrictSyntax(t *testing.T) {
	good := encode(t, validPolicy(t))
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("fixture lacks %q", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name string
		data []byte
		path string
		msg  string
	}{
		{"unknown top-level field", replace(`"version": 1,`, `"version": 1, "colour": "red",`), "colour", "unknown field"},
		{"misspelt field suggests", replace(`"host":`, `"Host": "x:1", "hostt":`), "Host", `did you mean "host"`},
		{"unknown nested field", replace(`"name": "alice",`, `"name": "alice", "nmae": "x",`), "principals[0].nmae", "unknown field"},
		{"unknown field in runtime", replace(`"platform": "sim",`, `"platform": "sim", "pcr0": "00",`), "attestation.runtimes[0].pcr0", "unknown field"},
		{"duplicate top-level key", replace(`"version": 1,`, `"version": 1, "version": 1,`), "version", "duplicate key"},
		{"duplicate nested key", replace(`"/input/alice/": "w"`, `"/input/alice/": "w", "/input/alice/": "r"`), `principals[0].capabilities["/input/alice/"]`, "duplicate key"},
		{"trailing data", append(bytes.Clone(good), []byte("{}")...), "", "trailing data"},
		{"trailing garbage", append(bytes.Clone(good), []byte(" x")...), "", "trailing data"},
		{"two values", append(bytes.Clone(good), good...), "", "trailing data"},
		{"trailing position", []byte("{}\n  {}"), "", "trailing data at line 2, column 3"},
		{"null", replace(`"name": "shamir-demo"`, `"name": null`), "name", "null is not allowed"},
		{"wrong type", replace(`"version": 1`, `"version": "1"`), "version", "must be a whole number"},
		{"fraction", replace(`"version": 1`, `"version": 1.0`), "version", "not a whole number"},
		{"huge number", replace(`"version": 1`, `"version": 1e400`), "version", "not a whole number"},
		{"array for object", replace(`"limits": {}`, `"limits": []`), "limits", "must be an object"},
		{"object for array", nil, "", ""}, // filled in below
		{"bad right letter", replace(`"/input/alice/": "w"`, `"/input/alice/": "q"`), `principals[0].capabilities["/input/alice/"]`, "unknown right"},
		{"empty rights", replace(`"/input/alice/": "w"`, `"/input/alice/": ""`), `principals[0].capabilities["/input/alice/"]`, "no rights"},
		{"bad time", replace(`"expires": "`, `"expires": "tomorrow`), "expires", "RFC 3339"},
		{"missing field", replace(`"host": "127.0.0.1:3017",`, ``), "host", "missing"},
		{"missing nested field", replace(`"sha256": "`+progHash+`",`, ``), "programs[0].sha256", "missing"},
		{"not an object", []byte(`[1]`), "", "must be an object"},
		{"empty file", []byte{}, "", "cut short"},
		{"cut short", good[:len(good)/2], "", "cut short"},
		{"syntax error", replace(`"version": 1,`, `"version": 1,,`), "", "line 2"},
		{"invalid utf8", replace(`shamir-demo`, "sham\xffir"), "", "invalid UTF-8 at line 3"},
		{"bom", append([]byte("\xef\xbb\xbf"), good...), "", "byte order mark"},
		{"too deep", []byte(strings.Repeat("[", 100) + strings.Repeat("]", 100)), strings.Repeat("[0]", 33), "nested more than"},
		{"too big", append(bytes.Clone(good), bytes.Repeat([]byte(" "), MaxSize)...), "", "more than"},
	}
	p := validPolicy(t)
	p.Pipelines = []Pipeline{{Name: "p", Steps: []string{"/program/shamir.wasm"}}}
	withPipeline := encode(t, p)
	for i := range cases {
		if cases[i].name == "object for array" {
			cases[i].data = bytes.Replace(bytes.Replace(withPipeline, []byte(`"pipelines": [`), []byte(`"pipelines": {"a": [`), 1),
				[]byte("  ],\n  \"limits\""), []byte("  ]},\n  \"limits\""), 1)
			cases[i].path, cases[i].msg = "pipelines", "must be an array"
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expectProblem(t, c.data, c.path, c.msg) })
	}
}

// TestEveryProblemReported checks that a policy with many faults gets all
// of them, not only the first, and no repeats of a structural problem.
func TestEveryProblemReported(t *testing.T) {
	p := validPolicy(t)
	p.Version = 3
	p.Host = "nope"
	p.Programs[0].SHA256 = "12"
	p.Limits.MemoryMiB = -1
	data := encode(t, p)
	data = bytes.Replace(data, []byte(`"name": "alice",`), []byte(`"name": "alice", "extra": 1,`), 1)
	_, err := Parse(data, testNow)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	want := []string{"version", "host", "programs[0].sha256", "limits.memory_mib", "principals[0].extra"}
	for _, w := range want {
		found := false
		for _, pr := range ve.Problems {
			found = found || pr.Path == w
		}
		if !found {
			t.Errorf("no problem at %s in:\n%v", w, err)
		}
	}
	if len(ve.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ve.Problems), len(want), err)
	}
	if !strings.Contains(err.Error(), "5 problems") {
		t.Errorf("Error() does not count problems: %v", err)
	}
}

// TestBadValueNotRepeated: a value refused while decoding is reported once,
// without follow-on problems about the same field.
func TestBadValueNotRepeated(t *testing.T) {
	data := bytes.Replace(encode(t, validPolicy(t)), []byte(`"expires": "`), []byte(`"expires": "x`), 1)
	_, err := Parse(data, testNow)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != "expires" {
		t.Fatalf("want exactly one problem at expires, got %v", err)
	}
}

func TestSuggest(t *testing.T) {
	fields := structFields(reflect.TypeFor[Principal]())
	cases := map[string]string{
		"capabilites":  `did you mean "capabilities"`,
		"Capabilities": `did you mean "capabilities"`,
		"nmae":         `did you mean "name"`,
		"crt":          `did you mean "cert"`,
		"colour":       "known fields here are name, cert, capabilities",
		"x":            "known fields here are",
	}
	for k, want := range cases {
		if got := suggest(k, fields); !strings.Contains(got, want) {
			t.Errorf("suggest(%q) = %q, want %q", k, got, want)
		}
	}
}

// TestFastCoverageMatchesNaive compares the sorted and map-based coverage
// checks with the plain definition, over random paths.
func TestFastCoverageMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	elems := []string{"a", "b", "ab", "a.wasm", "b.wasm"}
	randPath := func(dir bool) string {
		var b strings.Builder
		for n := 1 + r.IntN(3); n > 0; n-- {
			b.WriteString("/" + elems[r.IntN(len(elems))])
		}
		if dir {
			b.WriteString("/")
		}
		return b.String()
	}
	for iter := 0; iter < 2000; iter++ {
		p := &Policy{}
		for n := r.IntN(4); n > 0; n-- {
			p.Programs = append(p.Programs, Program{Path: randPath(false)})
		}
		runners := map[string]bool{}
		for n := r.IntN(4); n > 0; n-- {
			runners[randPath(r.IntN(2) == 0)] = true
		}
		if r.IntN(20) == 0 {
			runners["/"] = true
		}
		for g := range runners {
			naive := false
			for _, pg := range p.Programs {
				naive = naive || capability.Covers(g, pg.Path)
			}
			if got := p.coversProgram(g); got != naive {
				t.Fatalf("coversProgram(%q) = %v with programs %v", g, got, p.Programs)
			}
		}
		for _, pg := range p.Programs {
			naive := false
			for g := range runners {
				naive = naive || capability.Covers(g, pg.Path)
			}
			if got := xGranted(runners, pg.Path); got != naive {
				t.Fatalf("xGranted(%v, %q) = %v", runners, pg.Path, got)
			}
		}
	}
}

// TestLargePolicy: a policy with many parties, programs and grants is
// validated in reasonable time (see BenchmarkParseLarge for the figure).
func TestLargePolicy(t *testing.T) {
	data := encode(t, largePolicy(t, 300, 300))
	if _, err := Parse(data, testNow); err != nil {
		t.Fatal(err)
	}
}

func largePolicy(t testing.TB, parties, programs int) *Policy {
	p := validPolicy(t)
	for i := 0; i < programs; i++ {
		p.Programs = append(p.Programs, Program{Path: fmt.Sprintf("/program/p%d.wasm", i), SHA256: progHash,
			Capabilities: capability.Set{fmt.Sprintf("/output/p%d/", i): capability.Write}})
	}
	for i := 0; i < parties; i++ {
		set := capability.Set{fmt.Sprintf("/input/%d/", i): capability.Write}
		for j := 0; j < programs; j += 10 {
			set[fmt.Sprintf("/program/p%d.wasm", j)] = capability.Execute
		}
		p.Principals[1].Capabilities[fmt.Sprintf("/program/p%d.wasm", i%programs)] = capability.Execute
		p.Principals = append(p.Principals, Principal{Name: fmt.Sprintf("party%d", i), Cert: partyCert(t, i), Capabilities: set})
	}
	return p
}

var (
	partyMu    sync.Mutex
	partyCerts []string
)

func partyCert(t testing.TB, i int) string {
	partyMu.Lock()
	defer partyMu.Unlock()
	for len(partyCerts) <= i {
		pem, _ := idPEM(t, fmt.Sprintf("party%d", len(partyCerts)), 24*365*time.Hour, testNow)
		partyCerts = append(partyCerts, pem)
	}
	return partyCerts[i]
}
