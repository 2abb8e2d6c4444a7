package policy

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/veracruz/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hasWarning(ws []Warning, path, msg string) bool {
	for _, w := range ws {
		if w.Path == path && strings.Contains(w.Msg, msg) {
			return true
		}
	}
	return false
}

// TestImportVeracruzByHand imports the hand-written Veracruz policy (WASI
// rights bitmasks) and checks every conversion and warning.
func TestImportVeracruzByHand(t *testing.T) {
	p, ws, err := ImportVeracruz(readTestdata(t, "shamir.json"))
	if err != nil {
		t.Fatal(err)
	}
	p.Name = "shamir"
	pol, err := Parse(encode(t, p), time.Now())
	if err != nil {
		t.Fatalf("imported policy invalid: %v", err)
	}
	R, W, X := capability.Read, capability.Write, capability.Execute
	want := map[string]capability.Set{
		"program-provider": {"/program/": W},
		"data-provider":    {"/input/": W},
		"result-reader":    {"/output/": R, "/program/": R | X},
	}
	for name, set := range want {
		pr := pol.Principal(name)
		if pr == nil {
			t.Fatalf("no principal %s", name)
		}
		if len(pr.Capabilities) != len(set) {
			t.Errorf("%s: %v, want %v", name, pr.Capabilities, set)
		}
		for g, r := range set {
			if pr.Capabilities[g] != r {
				t.Errorf("%s on %s: %v, want %v", name, g, pr.Capabilities[g], r)
			}
		}
	}
	pg := pol.Program("/program/shamir.wasm")
	if pg == nil || pg.SHA256 != "3269ae998b15703b4bc1151e94a12ce19f157eb8b14b0099e5fe484c239bc369" {
		t.Fatalf("program not pinned: %+v", pg)
	}
	if pg.Capabilities["/input/"] != R || pg.Capabilities["/output/"] != R|W {
		t.Errorf("program rights %v", pg.Capabilities)
	}
	if !pol.PrincipalAllows("result-reader", "/program/shamir.wasm", X) || pol.PrincipalAllows("data-provider", "/program/shamir.wasm", X) {
		t.Error("execute rights wrong")
	}
	if pl := pol.Pipeline("twice"); pl == nil || len(pl.Steps) != 2 {
		t.Error("pipeline not carried over")
	}
	if !pol.Expires.Equal(time.Date(2099, 12, 31, 23, 59, 0, 0, time.UTC)) || pol.Host != "127.0.0.1:3011" ||
		pol.Attestation.Service != "https://127.0.0.1:3010" || pol.Limits.MemoryMiB != 256 {
		t.Errorf("header wrong: %v %s %s %d", pol.Expires, pol.Host, pol.Attestation.Service, pol.Limits.MemoryMiB)
	}
	if len(pol.Runtimes("sim")) != 1 || len(pol.Runtimes("nitro")) != 1 {
		t.Error("runtime hashes not carried over")
	}
	for _, w := range []struct{ path, msg string }{
		{"identities[2].file_rights[2].file_name", "standard stream"},
		{"pipelines[0].file_rights", "own rights"},
		{"proxy_attestation_server_url", "no scheme"},
		{"runtime_manager_hash_linux", "never matches"},
		{"runtime_manager_hash_nitro", "never matches"},
		{"ciphersuite", "TLS 1.3"},
		{"execution_strategy", "engine"},
	} {
		if !hasWarning(ws, w.path, w.msg) {
			t.Errorf("no warning at %s about %q in %v", w.path, w.msg, ws)
		}
	}
	if len(ws) != 7 {
		t.Errorf("%d warnings, want 7: %v", len(ws), ws)
	}
}

// TestImportVeracruzLetters imports the newer form with "rwx" letters.
func TestImportVeracruzLetters(t *testing.T) {
	p, ws, err := ImportVeracruz(readTestdata(t, "letters.json"))
	if err != nil {
		t.Fatal(err)
	}
	p.Name = "letters"
	pol, err := Parse(encode(t, p), time.Now())
	if err != nil {
		t.Fatalf("imported policy invalid: %v", err)
	}
	if pr := pol.Principal("result-reader"); pr == nil || pr.Capabilities["/program/shamir.wasm"] != capability.Execute {
		t.Error("x letter not carried over")
	}
	if pol.PrincipalAllows("program-provider", "/program/shamir.wasm", capability.Execute) {
		t.Error("w on the program directory gave x")
	}
	if pol.Limits.MemoryMiB != 512 || len(pol.Runtimes("snp")) != 1 {
		t.Error("memory or snp hash lost")
	}
	if !hasWarning(ws, "runtime_manager_hash_sevsnp", "snp") {
		t.Errorf("warnings %v", ws)
	}
}

// vcPolicy is a small valid Veracruz policy, as a map to edit.
func vcPolicy(t testing.TB) map[string]any {
	f := fixtures(t)
	return map[string]any{
		"identities": []any{
			map[string]any{"certificate": strings.TrimSpace(f.alicePEM), "id": 0, "file_rights": []any{
				map[string]any{"file_name": "/input/", "rights": 534084},
			}},
			map[string]any{"certificate": strings.TrimSpace(f.bobPEM), "id": 1, "file_rights": []any{
				map[string]any{"file_name": "/program/", "rights": 24582},
				map[string]any{"file_name": "/output/", "rights": 24582},
			}},
		},
		"programs": []any{map[string]any{"program_file_name": "/program/p.wasm", "id": 0, "file_rights": []any{
			map[string]any{"file_name": "/input/", "rights": 24582},
			map[string]any{"file_name": "/output/", "rights": 550470},
		}}},
		"file_hashes":                  []any{map[string]any{"file_path": "/program/p.wasm", "hash": progHash}},
		"veracruz_server_url":          "127.0.0.1:3011",
		"proxy_attestation_server_url": "https://127.0.0.1:3010",
		"proxy_service_cert":           f.caPEM,
		"enclave_cert_expiry":          map[string]any{"year": 2026, "month": 12, "day": 1, "hour": 0, "minute": 0},
		"runtime_manager_hash_linux":   simMeasurement,
	}
}

func marshal(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportVeracruzCases(t *testing.T) {
	ids := func(m map[string]any) []any { return m["identities"].([]any) }
	rights := func(m map[string]any, i, j int) map[string]any {
		return ids(m)[i].(map[string]any)["file_rights"].([]any)[j].(map[string]any)
	}
	cases := []struct {
		name     string
		edit     func(m map[string]any)
		warnPath string // a warning expected here (if set)
		warnMsg  string
		errPath  string // an error expected here (if set)
		errMsg   string
		check    func(t *testing.T, p *Policy)
	}{
		{name: "as made", edit: func(map[string]any) {}, check: func(t *testing.T, p *Policy) {
			if p.Principals[0].Capabilities["/input/"] != capability.Write || p.Principals[1].Capabilities["/program/"] != capability.Read|capability.Execute {
				t.Errorf("rights %v %v", p.Principals[0].Capabilities, p.Principals[1].Capabilities)
			}
		}},
		{name: "write-only bits", edit: func(m map[string]any) { rights(m, 0, 0)["rights"] = 1 << 10 }, check: func(t *testing.T, p *Policy) {
			if p.Principals[0].Capabilities["/input/"] != capability.Write {
				t.Error("path_create_file is not w")
			}
		}},
		{name: "unlink is write", edit: func(m map[string]any) { rights(m, 0, 0)["rights"] = 1 << 26 }, check: func(t *testing.T, p *Policy) {
			if p.Principals[0].Capabilities["/input/"] != capability.Write {
				t.Error("path_unlink_file is not w")
			}
		}},
		{name: "readdir is read", edit: func(m map[string]any) { rights(m, 0, 0)["rights"] = 1 << 14 }, check: func(t *testing.T, p *Policy) {
			if p.Principals[0].Capabilities["/input/"] != capability.Read {
				t.Error("fd_readdir is not r")
			}
		}},
		{name: "only path_open", edit: func(m map[string]any) { rights(m, 0, 0)["rights"] = 1 << 13 },
			warnPath: "identities[0].file_rights[0].rights", warnMsg: "neither read nor write", check: func(t *testing.T, p *Policy) {
				if len(p.Principals[0].Capabilities) != 0 {
					t.Error("grant with no Truce right kept")
				}
			}},
		{name: "symlink bit", edit: func(m map[string]any) { rights(m, 0, 0)["rights"] = 534084 | 1<<24 },
			warnPath: "identities[0].file_rights[0].rights", warnMsg: "path_symlink"},
		{name: "unknown bit", edit: func(m map[string]any) { rights(m, 0, 0)["rights"] = 534084 | 1<<40 },
			warnPath: "identities[0].file_rights[0].rights", warnMsg: "bit 40"},
		{name: "path without slash covers below", edit: func(m map[string]any) { rights(m, 0, 0)["file_name"] = "/input" },
			warnPath: "identities[0].file_rights[0].file_name", warnMsg: `written as "/input/"`},
		{name: "relative path", edit: func(m map[string]any) { rights(m, 0, 0)["file_name"] = "input/" },
			warnPath: "identities[0].file_rights[0].file_name", warnMsg: `written as "/input/"`},
		{name: "longest prefix", edit: func(m map[string]any) {
			id := ids(m)[1].(map[string]any)
			id["file_rights"] = append(id["file_rights"].([]any), map[string]any{"file_name": "/output/secret/", "rights": 1 << 14})
			rights(m, 1, 1)["rights"] = 550470
		}, warnPath: "identities[1]", warnMsg: "grants add up"},
		{name: "data hash", edit: func(m map[string]any) {
			m["file_hashes"] = append(m["file_hashes"].([]any), map[string]any{"file_path": "/input/data.csv", "hash": prog2Hash})
		}, warnPath: "file_hashes[1]", warnMsg: "not a program"},
		{name: "conditional pipeline", edit: func(m map[string]any) {
			m["pipelines"] = []any{map[string]any{"name": "c", "id": 0, "pipeline": "if /a { /program/p.wasm }"}}
		}, warnPath: "pipelines[0].pipeline", warnMsg: "no conditions", check: func(t *testing.T, p *Policy) {
			if len(p.Pipelines) != 0 {
				t.Error("conditional pipeline kept")
			}
		}},
		{name: "native modules", edit: func(m map[string]any) { m["native_modules"] = []any{map[string]any{"name": "n"}} },
			warnPath: "native_modules", warnMsg: "WebAssembly only"},
		{name: "clock off", edit: func(m map[string]any) { m["enable_clock"] = false }, warnPath: "enable_clock", warnMsg: "always read the clocks"},
		{name: "debug on", edit: func(m map[string]any) { m["debug"] = true }, warnPath: "debug", warnMsg: "never write"},
		{name: "huge memory", edit: func(m map[string]any) { m["max_memory_mib"] = 100000 }, warnPath: "max_memory_mib", warnMsg: "written as 4096"},
		{name: "unknown field", edit: func(m map[string]any) { m["colour"] = "red" }, warnPath: "colour", warnMsg: "unknown field"},
		{name: "cn unusable", edit: func(m map[string]any) {
			ids(m)[1].(map[string]any)["certificate"] = strings.TrimSpace(fixtures(t).spacedPEM)
		}, warnPath: "identities[1]", warnMsg: `called "id1"`},
		{name: "program without hash", edit: func(m map[string]any) { m["file_hashes"] = []any{} },
			errPath: "programs[0].program_file_name", errMsg: "no entry in file_hashes"},
		{name: "bad month", edit: func(m map[string]any) { m["enclave_cert_expiry"].(map[string]any)["month"] = 13 },
			errPath: "enclave_cert_expiry.month", errMsg: "out of range"},
		{name: "no 30 february", edit: func(m map[string]any) {
			m["enclave_cert_expiry"] = map[string]any{"year": 2027, "month": 2, "day": 30, "hour": 0, "minute": 0}
		}, errPath: "enclave_cert_expiry.day", errMsg: "no day 30"},
		{name: "missing programs", edit: func(m map[string]any) { delete(m, "programs") }, errPath: "programs", errMsg: "missing"},
		{name: "rights negative", edit: func(m map[string]any) { rights(m, 0, 0)["rights"] = -1 },
			errPath: "identities[0].file_rights[0].rights", errMsg: "wrong type"},
		{name: "rights as string", edit: func(m map[string]any) { rights(m, 0, 0)["rights"] = "rw" },
			errPath: "identities[0].file_rights[0].rights", errMsg: "wrong type"},
		{name: "bad letter", edit: func(m map[string]any) {
			ids(m)[0].(map[string]any)["file_rights"] = map[string]any{"/input/": "rq"}
		}, errPath: `identities[0].file_rights["/input/"]`, errMsg: "unknown permission"},
		{name: "identities not a list", edit: func(m map[string]any) { m["identities"] = "x" }, errPath: "identities", errMsg: "wrong type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := vcPolicy(t)
			c.edit(m)
			p, ws, err := ImportVeracruz(marshal(t, m))
			if c.errPath != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("got %v, want a problem at %s", err, c.errPath)
				}
				for _, pr := range ve.Problems {
					if pr.Path == c.errPath && strings.Contains(pr.Msg, c.errMsg) {
						return
					}
				}
				t.Fatalf("no problem at %s with %q: %v", c.errPath, c.errMsg, err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.warnPath != "" && !hasWarning(ws, c.warnPath, c.warnMsg) {
				t.Errorf("no warning at %s with %q: %v", c.warnPath, c.warnMsg, ws)
			}
			p.Name = "t"
			pol, err := Parse(encode(t, p), testNow)
			if err != nil {
				t.Fatalf("imported policy invalid: %v", err)
			}
			if c.check != nil {
				c.check(t, pol)
			}
		})
	}
}

func TestImportVeracruzSyntax(t *testing.T) {
	for _, data := range []string{``, `[]`, `{"identities": [], "identities": []}`, `{} {}`, "{\"a\":\"\xff\"}"} {
		if _, _, err := ImportVeracruz([]byte(data)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", data, err)
		}
	}
}

func TestWasiRightsTable(t *testing.T) {
	if len(wasiRights) != 30 || wasiBit("fd_read") != 2 || wasiBit("fd_write") != 64 ||
		wasiBit("path_create_directory") != 1<<9 || wasiBit("path_create_file") != 1<<10 || wasiBit("path_open") != 1<<13 {
		t.Fatal("WASI rights bits out of order")
	}
	all := wasiRead | wasiWrite | wasiNeutral | wasiDropped
	if all != 1<<30-1 {
		t.Fatalf("rights not all classified: %x", all)
	}
	for _, pair := range [][2]uint64{{wasiRead, wasiWrite}, {wasiRead, wasiNeutral}, {wasiWrite, wasiNeutral}, {wasiDropped, wasiRead | wasiWrite | wasiNeutral}} {
		if pair[0]&pair[1] != 0 {
			t.Fatalf("a right is in two classes: %x", pair[0]&pair[1])
		}
	}
}

// FuzzImportVeracruz: the import never panics, and whatever it converts
// encodes.
func FuzzImportVeracruz(f *testing.F) {
	f.Add(readTestdata(f, "shamir.json"))
	f.Add(readTestdata(f, "letters.json"))
	f.Add(marshal(f, vcPolicy(f)))
	f.Add([]byte(`{"identities":[{"file_rights":{"a":"rwx"}}],"programs":[{"program_file_name":"p","file_rights":[{"file_name":"stdout","rights":18446744073709551615}]}]}`))
	f.Add([]byte(`{"pipelines":[{"name":"a","pipeline":";;/a;b"}],"enclave_cert_expiry":{"year":0}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _, err := ImportVeracruz(data)
		if err != nil {
			if p != nil {
				t.Fatal("policy and error both returned")
			}
			return
		}
		if _, err := Encode(p); err != nil {
			t.Fatalf("converted policy cannot be encoded: %v", err)
		}
	})
}
