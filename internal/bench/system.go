package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/policy"
)

// system is the real Truce on loopback: the truce binary built from this
// repository, one attestation service ("truce pas serve --allow-sim") and
// the hosts started on it, each a "truce host serve" running its runtime
// as a child process, exactly as the demo and the end-to-end tests run
// them (package deployment).
type system struct {
	dir string // working directory, holding the processes' logs; the caller removes it
	bin *deployment.Binary
	pas *deployment.AttestationService
	// credFile is the hosts' credential for the attestation service
	// (truce pas host add), so that rate limits for anonymous callers
	// do not distort the figures.
	credFile string

	procs deployment.Group
}

// grace is how long a bench process has to stop after the interrupt.
const grace = 5 * time.Second

// startSystem builds truce from the repository at root (see
// deployment.Build) and starts the attestation service in dir.
func startSystem(ctx context.Context, root, dir string) (*system, error) {
	bin, err := deployment.Build(ctx, root)
	if err != nil {
		return nil, err
	}
	s := &system{dir: dir, bin: bin}
	pasDir := filepath.Join(dir, "pas")
	if err := pas.Init(pasDir, nil); err != nil {
		return nil, fmt.Errorf("initialising the attestation service: %w", err)
	}
	s.credFile = filepath.Join(dir, "bench.credential")
	if out, err := exec.CommandContext(ctx, bin.Path, "pas", "host", "add", "--dir", pasDir, "-o", s.credFile, "bench").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("making the hosts' credential: %w\n%s", err, out)
	}
	s.pas, err = bin.StartAttestationService(ctx, deployment.AttestationServiceOptions{Dir: pasDir, Flags: []string{"--host-rate", "1000"},
		Process: deployment.Options{LogFile: filepath.Join(dir, "pas.log"), Grace: grace}, Ready: time.Minute})
	if err != nil {
		return nil, fmt.Errorf("the attestation service: %w", err)
	}
	s.procs.Add(s.pas.Process)
	return s, nil
}

// close stops every process, newest first, and removes nothing: the
// caller owns dir.
func (s *system) close() { s.procs.Stop() }

// startHost starts "truce host serve" on addr for the policy files, its
// output logged to DIR/NAME.log, and returns it once every enclave is
// attested, with the time from launch to ready.
func (s *system) startHost(ctx context.Context, name, addr string, policyFiles ...string) (*deployment.Process, time.Duration, error) {
	h, err := s.bin.StartHost(ctx, s.pas, deployment.HostOptions{Listen: addr, Policies: policyFiles,
		Flags:   []string{"--log-level", "warn", "--pas-credential", s.credFile},
		Process: deployment.Options{LogFile: filepath.Join(s.dir, name+".log"), Grace: grace}, Ready: 2 * time.Minute})
	if err != nil {
		return nil, 0, err
	}
	s.procs.Add(h.Process)
	return h.Process, h.Ready, nil
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
		Attestation: policy.Attestation{Service: s.pas.URL, CACert: string(s.pas.CACert),
			Runtimes: []policy.Runtime{{Platform: "sim", Measurement: hex.EncodeToString(s.bin.Measurement)}}},
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
