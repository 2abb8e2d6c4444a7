// Package layering holds tests of what may link what across the module,
// checked with go list, so that a layering the design draws stays true as
// code moves. It holds no code and must never be imported.
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs go list with args in the module root and returns its lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %v: %v\n%s", args, err, msg)
	}
	return strings.Fields(string(out))
}

// TestVerifiersLinkNoProvider: a client that verifies Nitro (or SGX, PSA,
// SNP, TDX, CCA, sim) evidence links no device code. The providers, which
// talk to /dev/nsm, /dev/attestation, configfs-tsm, /dev/sev-guest,
// /dev/tdx_guest or hold the sim device key, live in internal/provider/...;
// neither ./client nor any package of ./attest (its test-only
// attest/internal excepted) may depend on one.
func TestVerifiersLinkNoProvider(t *testing.T) {
	const provider = "github.com/truce-project/truce/internal/provider"
	pkgs := []string{"./client"}
	for _, p := range goList(t, "./attest/...") {
		if !strings.Contains(p, "/attest/internal/") {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) < 8 {
		t.Fatalf("only %d packages to check: %v", len(pkgs), pkgs)
	}
	for _, p := range pkgs {
		for _, dep := range goList(t, "-deps", p) {
			if dep == provider || strings.HasPrefix(dep, provider+"/") {
				t.Errorf("%s links %s", p, dep)
			}
		}
	}
}
