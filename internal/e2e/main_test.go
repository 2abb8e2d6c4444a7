// Package e2e tests Truce through real processes and real sockets: the
// truce binary is built once, and each test starts "truce pas serve" and
// "truce host serve" (which starts "truce runtime") and drives them with
// the client SDK and the CLI, as users would.
//
// It must never reach into a process's memory or files to make a test
// pass: everything is observed from outside, through the API, the CLI, the
// metrics and the logs.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/truce-project/truce/examples/shamir"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/deployment/deploymenttest"
	"github.com/truce-project/truce/policy"
)

// bin is the truce executable built for the tests; measurement is its
// SHA-256, what a sim policy pins.
var (
	truceBin    *deployment.Binary
	bin         string
	measurement []byte
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := deployment.ModuleRoot()
	if err == nil {
		truceBin, err = deployment.Build(context.Background(), root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin, measurement = truceBin.Path, truceBin.Measurement
	return m.Run()
}

// truce runs a CLI command to completion with extra environment.
func truce(t testing.TB, env []string, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code = 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running truce %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return o.String(), e.String(), code
}

// startPAS initialises an attestation service with "truce pas init" and
// starts "truce pas serve" on it with the extra flags, for t.
func startPAS(t testing.TB, extra ...string) *deployment.AttestationService {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pas")
	if out, errOut, code := truce(t, nil, nil, "pas", "init", "--dir", dir); code != 0 {
		t.Fatalf("pas init: %s %s", out, errOut)
	}
	return deploymenttest.StartAttestationService(t, truceBin, deployment.AttestationServiceOptions{Dir: dir, Flags: extra})
}

// party is a principal with its identity files.
type party struct {
	id            *identity.Identity
	certFile, key string
	capabilities  map[string]string
}

// story is the Shamir computation's set-up: parties, policy, files.
type story struct {
	dir     string
	parties map[string]*party
	pol     *policy.Policy
	polFile string
}

// storyOptions vary the policy.
type storyOptions struct {
	measurement []byte    // pinned; nil means the built binary's
	expires     time.Time // zero means a day from now
	hostAddr    string
	// reader adds principal "rita" who may read everything, so tests can
	// check that refused requests left files as they were.
	reader bool
	// edit, when set, changes the policy document before it is written.
	edit func(doc map[string]any)
}

var shareNames = []string{"alice", "bob", "carol"}

func newStory(t testing.TB, ps *deployment.AttestationService, o storyOptions) *story {
	t.Helper()
	dir := t.TempDir()
	if o.measurement == nil {
		o.measurement = measurement
	}
	if o.expires.IsZero() {
		o.expires = time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	}
	caps := map[string]map[string]string{
		"alice":   {"/input/shamir-0.dat": "w"},
		"bob":     {"/input/shamir-1.dat": "w"},
		"carol":   {"/input/shamir-2.dat": "w"},
		"oscar":   {shamir.Path: "w"},
		"dave":    {shamir.Path: "x", "/output/": "r"},
		"mallory": {"/input/mallory.dat": "w"},
	}
	if o.reader {
		caps["rita"] = map[string]string{"/": "r"}
	}
	s := &story{dir: dir, parties: map[string]*party{}}
	var principals []any
	for _, n := range []string{"alice", "bob", "carol", "oscar", "dave", "mallory", "rita"} {
		c, ok := caps[n]
		if !ok {
			continue
		}
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cf, kf, err := id.Write(dir)
		if err != nil {
			t.Fatal(err)
		}
		s.parties[n] = &party{id: id, certFile: cf, key: kf, capabilities: c}
		principals = append(principals, map[string]any{"name": n, "cert": string(id.CertPEM()), "capabilities": c})
	}
	sum := sha256.Sum256(shamir.Wasm)
	doc := map[string]any{
		"version": 1, "name": "e2e-shamir", "expires": o.expires.Format(time.RFC3339), "host": o.hostAddr,
		"attestation": map[string]any{"service": ps.URL, "ca_cert": string(ps.CACert),
			"runtimes": []any{map[string]string{"platform": "sim", "measurement": hex.EncodeToString(o.measurement)}}},
		"principals": principals,
		"programs": []any{map[string]any{"path": shamir.Path, "sha256": hex.EncodeToString(sum[:]),
			"capabilities": map[string]string{"/input/shamir-0.dat": "r", "/input/shamir-1.dat": "r", "/input/shamir-2.dat": "r", "/output/": "w"}}},
		"pipelines": []any{map[string]any{"name": "combine", "steps": []string{shamir.Path, shamir.Path}}},
		"limits":    map[string]any{},
	}
	if o.edit != nil {
		o.edit(doc)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	s.pol, err = policy.Parse(b, o.expires.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s.polFile = filepath.Join(dir, "policy.json")
	if err := os.WriteFile(s.polFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// env returns the environment for a CLI command run as party n.
func (s *story) env(n string) []string {
	p := s.parties[n]
	return []string{"TRUCE_POLICY=" + s.polFile, "TRUCE_IDENTITY=" + p.certFile, "TRUCE_KEY=" + p.key}
}

// startHost serves the policies; it waits until every enclave is ready.
func startHost(t testing.TB, ps *deployment.AttestationService, listen string, polFiles []string, extra ...string) *deployment.Host {
	t.Helper()
	h, err := tryHost(t, ps, listen, polFiles, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// tryHost is startHost returning the error (deployment.ErrPortTaken if
// the free port picked for a policy was taken meanwhile).
func tryHost(t testing.TB, ps *deployment.AttestationService, listen string, polFiles []string, extra ...string) (*deployment.Host, error) {
	t.Helper()
	return deploymenttest.TryHost(t, truceBin, ps, deployment.HostOptions{Listen: listen, Policies: polFiles, Flags: extra,
		Ready: 3 * time.Minute}) // many enclaves on a busy machine
}
