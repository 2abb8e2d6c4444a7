package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/policy"
)

// system is the real Truce on loopback: the truce binary built from this
// repository, one attestation service ("truce pas serve --allow-sim") and
// the hosts started on it, each a "truce host serve" running its runtime
// as a child process, exactly as the demo and the end-to-end tests run
// them.
type system struct {
	dir         string // working directory, removed by close
	bin         string
	measurement []byte
	pasDir      string
	pasURL      string
	caPEM       []byte
	// credFile is the hosts' credential for the attestation service
	// (truce pas host add), so that rate limits for anonymous callers
	// do not distort the figures.
	credFile string

	mu    sync.Mutex
	procs []*proc
}

// proc is a running truce child process.
type proc struct {
	cmd   *exec.Cmd
	ready chan string // the address of "ready ADDR", once
	done  chan struct{}
	log   string // file holding its stdout and stderr
}

// startSystem builds truce from the repository at root into dir and
// starts the attestation service.
func startSystem(ctx context.Context, root, dir string) (*system, error) {
	s := &system{dir: dir, bin: filepath.Join(dir, "truce")}
	build := exec.CommandContext(ctx, kit.GoTool(), "build", "-trimpath", "-o", s.bin, "./cmd/truce")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building truce: %w\n%s", err, out)
	}
	var err error
	if s.measurement, err = sim.MeasureFile(s.bin); err != nil {
		return nil, err
	}
	s.pasDir = filepath.Join(dir, "pas")
	if err := pas.Init(s.pasDir, nil); err != nil {
		return nil, fmt.Errorf("initialising the attestation service: %w", err)
	}
	if s.caPEM, err = os.ReadFile(filepath.Join(s.pasDir, pas.CACertFile)); err != nil {
		return nil, err
	}
	s.credFile = filepath.Join(dir, "bench.credential")
	if out, err := exec.Command(s.bin, "pas", "host", "add", "--dir", s.pasDir, "-o", s.credFile, "bench").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("making the hosts' credential: %w\n%s", err, out)
	}
	addrFile := filepath.Join(dir, "pas.addr")
	p, err := s.start("pas", "pas", "serve", "--dir", s.pasDir, "--listen", "127.0.0.1:0", "--allow-sim", "--addr-file", addrFile,
		"--host-rate", "1000")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && strings.HasSuffix(string(b), "\n") {
			s.pasURL = "https://" + strings.TrimSpace(string(b))
			return s, nil
		}
		select {
		case <-p.done:
			s.close()
			return nil, fmt.Errorf("the attestation service exited; see %s", p.log)
		case <-ctx.Done():
			s.close()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.close()
			return nil, fmt.Errorf("the attestation service did not start within a minute; see %s", p.log)
		}
	}
}

// start runs "truce ARGS…", its output logged to DIR/NAME.log.
func (s *system) start(name string, args ...string) (*proc, error) {
	logName := filepath.Join(s.dir, name+".log")
	logf, err := os.OpenFile(logName, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting truce %s: %w", strings.Join(args, " "), err)
	}
	p := &proc{cmd: cmd, ready: make(chan string, 1), done: make(chan struct{}), log: logName}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if a, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				select {
				case p.ready <- a:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// stop interrupts p and kills it if it has not exited within 5 seconds.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// close stops every process, newest first, and removes nothing: the
// caller owns dir.
func (s *system) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
	s.procs = nil
}

// startHost starts "truce host serve" on addr for the policy files and
// returns it once every enclave is attested, with the time from launch to
// ready.
func (s *system) startHost(ctx context.Context, name, addr string, policyFiles ...string) (*proc, time.Duration, error) {
	args := []string{"host", "serve", "--platform", "sim", "--listen", addr, "--log-level", "warn",
		"--sim-device-key", filepath.Join(s.pasDir, pas.DeviceKeyFile), "--pas-credential", s.credFile}
	for _, f := range policyFiles {
		args = append(args, "--policy", f)
	}
	t0 := time.Now()
	p, err := s.start(name, args...)
	if err != nil {
		return nil, 0, err
	}
	select {
	case <-p.ready:
		return p, time.Since(t0), nil
	case <-p.done:
		return nil, 0, fmt.Errorf("the host exited before it was ready; see %s", p.log)
	case <-ctx.Done():
		p.stop()
		return nil, 0, ctx.Err()
	case <-time.After(2 * time.Minute):
		p.stop()
		return nil, 0, fmt.Errorf("the host was not ready within 2 minutes; see %s", p.log)
	}
}

// party is a principal of a bench policy.
type party struct {
	id   *identity.Identity
	caps capability.Set
}

// program is a program of a bench policy.
type program struct {
	path, sha256 string
	caps         capability.Set
}

// writePolicy writes a policy for the enclave at addr to DIR/NAME.json and
// returns it parsed, with its file.
func (s *system) writePolicy(name, addr string, parties []party, progs []program) (*policy.Policy, string, error) {
	doc := &policy.Policy{
		Version: policy.Version, Name: name,
		Expires: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second),
		Host:    addr,
		Attestation: policy.Attestation{Service: s.pasURL, CACert: string(s.caPEM),
			Runtimes: []policy.Runtime{{Platform: "sim", Measurement: hex.EncodeToString(s.measurement)}}},
		// Room for the largest data-path file, 1 GiB.
		Limits: policy.Limits{FileMiB: 2048, TotalMiB: 8192},
	}
	for _, p := range parties {
		doc.Principals = append(doc.Principals, policy.Principal{Name: p.id.Name, Cert: string(p.id.CertPEM()), Capabilities: p.caps})
	}
	for _, p := range progs {
		doc.Programs = append(doc.Programs, policy.Program{Path: p.path, SHA256: p.sha256, Capabilities: p.caps})
	}
	b, err := policy.Encode(doc)
	if err != nil {
		return nil, "", err
	}
	pol, err := policy.Parse(b, time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("bench made an invalid policy: %w", err)
	}
	file := filepath.Join(s.dir, name+".json")
	return pol, file, os.WriteFile(file, b, 0o644)
}

// identities makes n identities called prefix0, prefix1, ….
func identities(prefix string, n int) ([]*identity.Identity, error) {
	out := make([]*identity.Identity, n)
	for i := range out {
		id, err := identity.New(fmt.Sprintf("%s%d", prefix, i), 0, time.Time{}, nil)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

var errNoRepo = errors.New("no go.mod above the working directory: run bench from the repository")

// repoRoot is the directory of the module holding the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errNoRepo
		}
		dir = parent
	}
}
