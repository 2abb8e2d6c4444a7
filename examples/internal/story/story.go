package story

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// Party is a principal of an example: a name and its capabilities, written
// as in a policy file (path → rights letters among "rwax"; a path ending
// in "/" covers everything below it).
type Party struct {
	Name string
	Caps map[string]string
}

// Program is a program an example's policy pins: where it is uploaded, its
// WebAssembly bytes (pinned by SHA-256) and the rights it has while running
// (only "r" and "w").
type Program struct {
	Path string
	Wasm []byte
	Caps map[string]string
}

// Pipeline is a named sequence of programs of the policy, run in order.
type Pipeline struct {
	Name  string
	Steps []string
}

// Spec describes an example's computation declaratively; Start turns it
// into identities, a policy and a running enclave.
type Spec struct {
	// Name names the policy (for people).
	Name string
	// Parties are the principals, each given a fresh identity.
	Parties []Party
	// Programs are the programs the policy pins.
	Programs []Program
	// Pipelines are the policy's pipelines, if any.
	Pipelines []Pipeline
	// Limits bound runs and storage; zero fields mean the defaults.
	Limits policy.Limits
}

// Story is one example's running enclave: its policy, the parties'
// identities and verified sessions. Its methods taking a *testing.T fail
// that test on any error; Session gives the raw SDK for tests that check
// refusals.
type Story struct {
	dir     string
	pol     *policy.Policy
	polFile string
	addr    string
	host    *deployment.Process
	ids     map[string]*identity.Identity
	files   map[string][2]string

	mu       sync.Mutex
	sessions map[string]*client.Session
	shutDown bool

	programs []Program
}

// Start makes an identity per party and the policy of spec (pinning the
// test binary's attestation service and the truce binary's measurement),
// starts "truce host serve" for it on a free loopback port and waits until
// the enclave is attested and ready. Everything is stopped at the end of t:
// the enclave is shut down through the API by a principal allowed to, or
// the host interrupted if none is.
func Start(t testing.TB, spec Spec) *Story {
	t.Helper()
	w := theWorld(t)
	ps, err := w.attestationService()
	if err != nil {
		t.Fatalf("story: %v", err)
	}
	s := &Story{
		dir:      t.TempDir(),
		ids:      map[string]*identity.Identity{},
		files:    map[string][2]string{},
		sessions: map[string]*client.Session{},
	}
	for _, p := range spec.Parties {
		id, err := identity.New(p.Name, 0, time.Time{}, nil)
		if err != nil {
			t.Fatalf("story: identity %q: %v", p.Name, err)
		}
		cf, kf, err := id.Write(s.dir)
		if err != nil {
			t.Fatalf("story: writing identity %q: %v", p.Name, err)
		}
		s.ids[p.Name] = id
		s.files[p.Name] = [2]string{cf, kf}
	}
	s.polFile = filepath.Join(s.dir, "policy.json")
	for attempt := 0; ; attempt++ {
		addr, err := deployment.FreeAddr()
		if err != nil {
			t.Fatalf("story: %v", err)
		}
		if err := s.writePolicy(spec, w, ps, addr); err != nil {
			t.Fatalf("story: %v", err)
		}
		h, err := w.bin.StartHost(context.Background(), ps, deployment.HostOptions{Policies: []string{s.polFile}})
		if errors.Is(err, deployment.ErrPortTaken) && attempt < 5 {
			continue
		}
		if err != nil {
			t.Fatalf("story: %v", err)
		}
		s.host, s.addr = h.Process, addr
		break
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// writePolicy encodes, parses and writes the policy of spec for a host at
// addr.
func (s *Story) writePolicy(spec Spec, w *world, ps *deployment.AttestationService, addr string) error {
	name := spec.Name
	if name == "" {
		name = "example"
	}
	p := &policy.Policy{
		Version: policy.Version,
		Name:    name,
		Expires: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second),
		Host:    addr,
		Attestation: policy.Attestation{
			Service:  ps.URL,
			CACert:   string(ps.CACert),
			Runtimes: []policy.Runtime{{Platform: "sim", Measurement: hex.EncodeToString(w.bin.Measurement)}},
		},
		Principals: []policy.Principal{},
		Programs:   []policy.Program{},
		Limits:     spec.Limits,
	}
	for _, pt := range spec.Parties {
		caps, err := capSet(pt.Caps)
		if err != nil {
			return fmt.Errorf("party %q: %w", pt.Name, err)
		}
		p.Principals = append(p.Principals, policy.Principal{Name: pt.Name, Cert: string(s.ids[pt.Name].CertPEM()), Capabilities: caps})
	}
	for _, pg := range spec.Programs {
		caps, err := capSet(pg.Caps)
		if err != nil {
			return fmt.Errorf("program %q: %w", pg.Path, err)
		}
		sum := sha256.Sum256(pg.Wasm)
		p.Programs = append(p.Programs, policy.Program{Path: pg.Path, SHA256: hex.EncodeToString(sum[:]), Capabilities: caps})
	}
	for _, pl := range spec.Pipelines {
		p.Pipelines = append(p.Pipelines, policy.Pipeline{Name: pl.Name, Steps: pl.Steps})
	}
	b, err := policy.Encode(p)
	if err != nil {
		return fmt.Errorf("encoding the policy: %w", err)
	}
	pol, err := policy.Parse(b, time.Time{})
	if err != nil {
		return fmt.Errorf("the spec makes an invalid policy: %w", err)
	}
	if err := os.WriteFile(s.polFile, b, 0o644); err != nil {
		return err
	}
	s.pol = pol
	s.programs = spec.Programs
	return nil
}

func capSet(m map[string]string) (capability.Set, error) {
	set := capability.Set{}
	for path, letters := range m {
		r, err := capability.ParseRights(letters)
		if err != nil {
			return nil, fmt.Errorf("rights %q on %s: %w", letters, path, err)
		}
		set[path] = r
	}
	return set, nil
}

// stop shuts the enclave down (through the API if some principal may),
// closes the sessions and makes sure the host has exited.
func (s *Story) stop(t testing.TB) {
	s.mu.Lock()
	done := s.shutDown
	s.mu.Unlock()
	if !done {
		for _, pr := range s.pol.Principals {
			if !mayShutdown(pr) {
				continue
			}
			if sess, err := s.session(pr.Name); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				done = sess.Shutdown(ctx) == nil
				cancel()
			}
			break
		}
	}
	s.mu.Lock()
	for _, sess := range s.sessions {
		sess.Close()
	}
	s.sessions = map[string]*client.Session{}
	s.mu.Unlock()
	if !done || !exited(s.host, 30*time.Second) {
		s.host.Stop()
	}
	if t.Failed() {
		t.Logf("log of truce host serve (%s):\n%s", s.polFile, s.host.Output())
	}
}

// exited reports whether p has ended, waiting up to d.
func exited(p *deployment.Process, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, err := p.Wait(ctx)
	return err == nil
}

// Policy returns the example's parsed policy.
func (s *Story) Policy() *policy.Policy { return s.pol }

// PolicyFile returns the path of the example's policy file.
func (s *Story) PolicyFile() string { return s.polFile }

// Addr returns the host's address (also the policy's host).
func (s *Story) Addr() string { return s.addr }

// Identity returns the identity of the party called name, or nil.
func (s *Story) Identity(name string) *identity.Identity { return s.ids[name] }

// Env returns the environment variables (TRUCE_POLICY, TRUCE_IDENTITY,
// TRUCE_KEY) under which a truce CLI command acts as the party called name.
func (s *Story) Env(name string) []string {
	f := s.files[name]
	return []string{"TRUCE_POLICY=" + s.polFile, "TRUCE_IDENTITY=" + f[0], "TRUCE_KEY=" + f[1]}
}

// Session returns the verified client session of the party called name,
// dialling it on first use; it fails t if the enclave cannot be reached or
// verified. Sessions are closed at the end of the story.
func (s *Story) Session(t testing.TB, name string) *client.Session {
	t.Helper()
	sess, err := s.session(name)
	if err != nil {
		t.Fatalf("story: %s dialling the enclave: %v", name, err)
	}
	return sess
}

func (s *Story) session(name string) (*client.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess, ok := s.sessions[name]; ok {
		return sess, nil
	}
	id := s.ids[name]
	if id == nil {
		return nil, fmt.Errorf("no party %q in the spec", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sess, err := client.Dial(ctx, s.pol, id)
	if err != nil {
		return nil, err
	}
	s.sessions[name] = sess
	return sess, nil
}

// ctx bounds one request of a test.
func ctx(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), 5*time.Minute)
}

// Put writes data to path as the party called name.
func (s *Story) Put(t testing.TB, name, path string, data []byte) *client.FileInfo {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	fi, err := s.Session(t, name).Put(c, path, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s writing %s: %v", name, path, err)
	}
	return fi
}

// Append adds data at the end of path as the party called name.
func (s *Story) Append(t testing.TB, name, path string, data []byte) *client.FileInfo {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	fi, err := s.Session(t, name).Append(c, path, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s appending to %s: %v", name, path, err)
	}
	return fi
}

// Get reads path as the party called name.
func (s *Story) Get(t testing.TB, name, path string) []byte {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	var b bytes.Buffer
	if _, err := s.Session(t, name).Get(c, path, &b); err != nil {
		t.Fatalf("%s reading %s: %v", name, path, err)
	}
	return b.Bytes()
}

// UploadPrograms uploads every program of the spec, each as the first
// party (in spec order) whose capabilities let it write the program's path.
func (s *Story) UploadPrograms(t testing.TB) {
	t.Helper()
	for _, pg := range s.programs {
		owner := ""
		for _, pr := range s.pol.Principals {
			if s.pol.PrincipalAllows(pr.Name, pg.Path, capability.Write) {
				owner = pr.Name
				break
			}
		}
		if owner == "" {
			t.Fatalf("story: no party may write program %s: give one \"w\" on it", pg.Path)
		}
		s.Put(t, owner, pg.Path, pg.Wasm)
	}
}

// Run runs the program at path as the party called name, fails t unless it
// exits 0, and checks the run's receipt against the policy. The program's
// stderr is in the failure message.
func (s *Story) Run(t testing.TB, name, path string) *api.RunResult {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	rr, err := s.Session(t, name).Run(c, path)
	if err != nil {
		if rr != nil {
			t.Fatalf("%s running %s: %v\nstdout: %s\nstderr: %s", name, path, err, rr.Stdout, rr.Stderr)
		}
		t.Fatalf("%s running %s: %v", name, path, err)
	}
	if err := receipt.Verify(&rr.Receipt, s.pol, time.Now()); err != nil {
		t.Fatalf("the receipt of %s does not verify: %v", path, err)
	}
	return rr
}

// RunPipeline runs the named pipeline as the party called name, fails t
// unless every step exits 0, and checks the pipeline's receipt.
func (s *Story) RunPipeline(t testing.TB, name, pipeline string) *api.PipelineResult {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	pr, err := s.Session(t, name).RunPipeline(c, pipeline)
	if err != nil {
		msg := ""
		if pr != nil {
			for _, st := range pr.Steps {
				msg += fmt.Sprintf("\n%s: %s (exit %d)\nstderr: %s", st.Program, st.Outcome, st.ExitCode, st.Stderr)
			}
		}
		t.Fatalf("%s running pipeline %s: %v%s", name, pipeline, err, msg)
	}
	if err := receipt.Verify(&pr.Receipt, s.pol, time.Now()); err != nil {
		t.Fatalf("the receipt of pipeline %s does not verify: %v", pipeline, err)
	}
	return pr
}

// Shutdown asks the enclave, as the party called name, to wipe its state
// and stop, and waits for the host to exit cleanly.
func (s *Story) Shutdown(t testing.TB, name string) {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	if err := s.Session(t, name).Shutdown(c); err != nil {
		t.Fatalf("%s shutting the enclave down: %v", name, err)
	}
	s.mu.Lock()
	s.shutDown = true
	s.mu.Unlock()
	if !exited(s.host, 30*time.Second) {
		t.Fatal("the host did not exit within 30s of the shutdown")
	}
	if code := s.host.ExitCode(); code != 0 {
		t.Fatalf("truce host serve exited with code %d after the shutdown", code)
	}
}

// Parties returns the names of the spec's parties, sorted.
func (s *Story) Parties() []string {
	var names []string
	for n := range s.ids {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// mayShutdown mirrors the runtime's rule: a principal holding an x right on
// some path may shut the enclave down.
func mayShutdown(pr policy.Principal) bool {
	for _, r := range pr.Capabilities {
		if r.Has(capability.Execute) {
			return true
		}
	}
	return false
}

// CannotRead fails t unless reading path as the party called name is
// refused as forbidden by the policy.
func (s *Story) CannotRead(t testing.TB, name, path string) {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	var b bytes.Buffer
	if _, err := s.Session(t, name).Get(c, path, &b); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("%s reading %s: got %v, want %v", name, path, err, client.ErrForbidden)
	}
}

// CannotWrite fails t unless writing (replacing) path as the party called
// name is refused as forbidden by the policy.
func (s *Story) CannotWrite(t testing.TB, name, path string) {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	if _, err := s.Session(t, name).Put(c, path, strings.NewReader("x")); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("%s writing %s: got %v, want %v", name, path, err, client.ErrForbidden)
	}
}

// CannotRun fails t unless running the program at path as the party called
// name is refused as forbidden by the policy.
func (s *Story) CannotRun(t testing.TB, name, path string) {
	t.Helper()
	c, cancel := ctx(t)
	defer cancel()
	if _, err := s.Session(t, name).Run(c, path); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("%s running %s: got %v, want %v", name, path, err, client.ErrForbidden)
	}
}
