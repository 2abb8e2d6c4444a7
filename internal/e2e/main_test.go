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
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/examples/shamir"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/policy"
)

// bin is the truce executable built for the tests; measurement is its
// SHA-256, what a sim policy pins.
var (
	bin         string
	measurement []byte
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "truce-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "truce")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/truce")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building truce:", err)
		return 1
	}
	measurement, err = sim.MeasureFile(bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// proc is a running truce child process.
type proc struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts "truce ARGS…"; onLine sees each stdout line. The
// process is interrupted at the end of the test, and its log shown if the
// test failed.
func startProc(t testing.TB, onLine func(string), args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	p := &proc{cmd: cmd, log: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(p.log, sc.Text())
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("log of truce %s:\n%s", args[0]+" "+args[1], p.log.String())
		}
	})
	return p
}

// stop interrupts the process and waits for it, killing it after 10 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("truce did not exit within %v", d)
		return -1
	}
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

// pasServer is a running "truce pas serve".
type pasServer struct {
	dir, url  string
	caPEM     []byte
	deviceKey string
	p         *proc
}

func startPAS(t testing.TB, extra ...string) *pasServer {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pas")
	if out, errOut, code := truce(t, nil, nil, "pas", "init", "--dir", dir); code != 0 {
		t.Fatalf("pas init: %s %s", out, errOut)
	}
	addrFile := filepath.Join(t.TempDir(), "pas.addr")
	args := append([]string{"pas", "serve", "--dir", dir, "--listen", "127.0.0.1:0", "--allow-sim", "--addr-file", addrFile}, extra...)
	p := startProc(t, nil, args...)
	deadline := time.Now().Add(30 * time.Second)
	var addr string
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			addr = strings.TrimSpace(string(b))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pas serve did not start:\n%s", p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ca, err := os.ReadFile(filepath.Join(dir, pas.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	return &pasServer{dir: dir, url: "https://" + addr, caPEM: ca, deviceKey: filepath.Join(dir, pas.DeviceKeyFile), p: p}
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

func newStory(t testing.TB, ps *pasServer, o storyOptions) *story {
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
		"attestation": map[string]any{"service": ps.url, "ca_cert": string(ps.caPEM),
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

// hostServer is a running "truce host serve".
type hostServer struct {
	addr string
	p    *proc
}

// startHost serves the policies; it waits until every enclave is ready.
func startHost(t testing.TB, ps *pasServer, listen string, polFiles []string, extra ...string) *hostServer {
	t.Helper()
	h, err := tryHost(t, ps, listen, polFiles, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// errPortTaken says the free port picked for a policy was taken meanwhile.
var errPortTaken = errors.New("host port taken")

func tryHost(t testing.TB, ps *pasServer, listen string, polFiles []string, extra ...string) (*hostServer, error) {
	t.Helper()
	args := []string{"host", "serve", "--platform", "sim", "--sim-device-key", ps.deviceKey, "--listen", listen}
	for _, f := range polFiles {
		args = append(args, "--policy", f)
	}
	args = append(args, extra...)
	ready := make(chan string, 1)
	p := startProc(t, func(line string) {
		if a, ok := strings.CutPrefix(line, "ready "); ok {
			ready <- a
		}
	}, args...)
	select {
	case a := <-ready:
		return &hostServer{addr: a, p: p}, nil
	case <-p.done:
		if strings.Contains(p.log.String(), "address already in use") {
			return nil, errPortTaken
		}
		return nil, fmt.Errorf("host serve exited:\n%s", p.log.String())
	case <-time.After(3 * time.Minute): // many enclaves on a busy machine
		return nil, fmt.Errorf("host serve not ready:\n%s", p.log.String())
	}
}
