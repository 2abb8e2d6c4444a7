package layering

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/truce-project/truce/"

// sdk is the public SDK: what programs outside the module import.
var sdk = []string{"./policy", "./policy/succession", "./capability", "./identity", "./attest/...",
	"./client", "./receipt", "./bundle", "./audit", "./api", "./platform"}

// rules is the table of layering rules: the packages of each row (go list
// patterns, relative to the module's root) must not link (directly or
// through any dependency) any package a forbidden entry names. An entry
// ending in "/..." names that path and everything under it; any other
// entry names exactly one package.
var rules = []struct {
	packages  []string
	forbidden []string
	why       string
}{
	{[]string{"./policy"},
		[]string{mod + "internal/vfs", mod + "internal/wasi", mod + "internal/native", mod + "internal/engine"},
		"the policy is pure: it says what may run, and links nothing that runs it"},
	{[]string{"./internal/host"},
		[]string{mod + "internal/runtime", mod + "client", mod + "internal/pas", "modernc.org/sqlite/...", "github.com/jackc/pgx/..."},
		"the host is untrusted plumbing: it relays bytes and speaks to the attestation service through internal/paswire, and links neither the enclave's runtime, the SDK client nor the service's store"},
	{sdk,
		[]string{mod + "internal/runtime", mod + "internal/engine", mod + "internal/vfs", mod + "internal/wasi", mod + "internal/pas"},
		"the public SDK links nothing of the enclave's runtime or of the attestation service"},
	{[]string{"./client", "./attest/..."},
		[]string{mod + "internal/provider/..."},
		"a client that verifies evidence links no device code: the providers (/dev/nsm, /dev/attestation, configfs-tsm, the sim device key) live in internal/provider"},
}

// forbids reports whether entry names the package path.
func forbids(entry, path string) bool {
	if base, ok := strings.CutSuffix(entry, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == entry
}

// TestLayering runs go list -deps for each row of rules and fails, with the
// chain of imports, for every forbidden package a row's package links.
func TestLayering(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: the layering of the module is checked with go list -deps and cannot be checked here")
	}
	root := moduleRoot(t)
	for _, r := range rules {
		out := goList(t, gobin, root, append([]string{"-f", "{{.ImportPath}} {{join .Deps \" \"}}"}, r.packages...)...)
		pkgs := 0
		for line := range strings.Lines(out) {
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			pkgs++
			pkg, deps := fields[0], fields[1:]
			for _, f := range r.forbidden {
				for _, d := range deps {
					if forbids(f, d) {
						t.Errorf("%s links %s (%s): %s", pkg, d, r.why, strings.Join(chain(t, gobin, root, pkg, d), " → "))
					}
				}
			}
		}
		if pkgs < len(r.packages) {
			t.Errorf("go list %v listed %d packages", r.packages, pkgs)
		}
	}
}

// chain returns the imports by which from links to, for the message.
func chain(t *testing.T, gobin, root, from, to string) []string {
	out := goList(t, gobin, root, "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", from)
	imports := map[string][]string{}
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 {
			imports[f[0]] = f[1:]
		}
	}
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var path []string
			for ; p != ""; p = prev[p] {
				path = append(path, p)
			}
			slices.Reverse(path)
			return path
		}
		for _, i := range imports[p] {
			if _, seen := prev[i]; !seen {
				prev[i] = p
				queue = append(queue, i)
			}
		}
	}
	return []string{from, "…", to}
}

func goList(t *testing.T, gobin, root string, args ...string) string {
	t.Helper()
	cmd := exec.Command(gobin, append([]string{"list"}, args...)...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// moduleRoot is the module's root: go test runs a test in its package's
// directory, two levels below.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}
