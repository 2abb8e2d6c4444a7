package deployment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/truce-project/truce/internal/pas"
)

// ErrPortTaken says a host could not listen on the address it was given,
// because another process took it meanwhile (see FreeAddr): pick another
// and try again.
var ErrPortTaken = errors.New("the host's port was taken")

// ErrNotReady says a service exited, or did not say it was ready in time;
// the error wrapping it holds the service's output.
var ErrNotReady = errors.New("not ready")

// AttestationService is a running "truce pas serve --allow-sim".
type AttestationService struct {
	// Dir is the service's directory (truce pas init).
	Dir string
	// Addr is the address it listens on; URL is "https://" + Addr.
	Addr, URL string
	// CACert is the PEM of its CA certificate, what a policy pins.
	CACert []byte
	// DeviceKey is the file of the simulated platform's device key, for
	// "truce host serve --sim-device-key".
	DeviceKey string
	// Process is the "truce pas serve" process.
	Process *Process
}

// AttestationServiceOptions vary how an attestation service is started.
type AttestationServiceOptions struct {
	// Dir is the service's directory. Required.
	Dir string
	// Init, if set, initialises Dir first (pas.Init, as "truce pas init"
	// does); otherwise Dir must be initialised already.
	Init bool
	// Listen is the address to listen on; empty means 127.0.0.1:0, a free
	// port.
	Listen string
	// Flags are more flags of "truce pas serve".
	Flags []string
	// Process varies the process (its log file, say).
	Process Options
	// Ready bounds the wait for the service to listen; zero means 30 s.
	Ready time.Duration
}

// StartAttestationService starts "truce pas serve --allow-sim" on o.Dir
// and waits until it listens, as the demo does: the service writes its
// address to the file o.Dir + ".addr" (beside the directory). The context
// bounds the wait; the service runs until Stop. On error nothing is left
// running.
func (b *Binary) StartAttestationService(ctx context.Context, o AttestationServiceOptions) (*AttestationService, error) {
	if o.Dir == "" {
		return nil, errors.New("starting the attestation service: no directory given")
	}
	if o.Init {
		if err := pas.Init(o.Dir, nil); err != nil {
			return nil, fmt.Errorf("initialising the attestation service: %w", err)
		}
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Ready <= 0 {
		o.Ready = 30 * time.Second
	}
	addrFile := filepath.Clean(o.Dir) + ".addr"
	if err := os.Remove(addrFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("starting the attestation service: %w", err)
	}
	args := append([]string{"pas", "serve", "--dir", o.Dir, "--listen", o.Listen, "--allow-sim", "--addr-file", addrFile}, o.Flags...)
	p, err := b.Start(ctx, o.Process, args...)
	if err != nil {
		return nil, err
	}
	deadline := time.NewTimer(o.Ready)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(addrFile); err == nil && bytes.HasSuffix(b, []byte("\n")) {
			addr := strings.TrimSpace(string(b))
			ca, err := os.ReadFile(filepath.Join(o.Dir, pas.CACertFile))
			if err != nil {
				p.Stop()
				return nil, fmt.Errorf("reading the attestation service's CA: %w", err)
			}
			return &AttestationService{Dir: o.Dir, Addr: addr, URL: "https://" + addr, CACert: ca,
				DeviceKey: filepath.Join(o.Dir, pas.DeviceKeyFile), Process: p}, nil
		}
		select {
		case <-p.Done():
			return nil, fmt.Errorf("truce pas serve exited with code %d: %w:\n%s", p.ExitCode(), ErrNotReady, p.Output())
		case <-ctx.Done():
			p.Stop()
			return nil, fmt.Errorf("waiting for truce pas serve: %w", ctx.Err())
		case <-deadline.C:
			p.Stop()
			return nil, fmt.Errorf("truce pas serve did not listen within %v: %w:\n%s", o.Ready, ErrNotReady, p.Output())
		case <-tick.C:
		}
	}
}

// Stop stops the service's process.
func (s *AttestationService) Stop() { s.Process.Stop() }

// Host is a running "truce host serve" on the simulated platform.
type Host struct {
	// Addr is the address of its "ready ADDR" line.
	Addr string
	// Ready is the time from the start to that line: every enclave
	// attested and listening.
	Ready time.Duration
	// Process is the "truce host serve" process; its runtimes are its
	// children.
	Process *Process
}

// HostOptions vary how a host is started.
type HostOptions struct {
	// Listen is the address to listen on; empty gives no --listen (the
	// policy's host).
	Listen string
	// Policies are the policy files to serve (--policy each).
	Policies []string
	// Flags are more flags of "truce host serve".
	Flags []string
	// Process varies the process (its log file, a line callback).
	Process Options
	// Ready bounds the wait for the "ready" line; zero means 90 s.
	Ready time.Duration
}

// StartHost starts "truce host serve --platform sim" attested by ps, and
// waits until it says "ready ADDR", every enclave attested, as the demo
// does. The context bounds the wait; the host runs until Stop. If the
// address was taken the error wraps ErrPortTaken. On error nothing is left
// running.
func (b *Binary) StartHost(ctx context.Context, ps *AttestationService, o HostOptions) (*Host, error) {
	if o.Ready <= 0 {
		o.Ready = 90 * time.Second
	}
	args := []string{"host", "serve", "--platform", "sim", "--sim-device-key", ps.DeviceKey}
	if o.Listen != "" {
		args = append(args, "--listen", o.Listen)
	}
	for _, f := range o.Policies {
		args = append(args, "--policy", f)
	}
	args = append(args, o.Flags...)
	ready := make(chan string, 1)
	onLine := o.Process.OnLine
	o.Process.OnLine = func(line string) {
		if a, ok := strings.CutPrefix(line, "ready "); ok {
			select {
			case ready <- a:
			default:
			}
		}
		if onLine != nil {
			onLine(line)
		}
	}
	t0 := time.Now()
	p, err := b.Start(ctx, o.Process, args...)
	if err != nil {
		return nil, err
	}
	deadline := time.NewTimer(o.Ready)
	defer deadline.Stop()
	select {
	case a := <-ready:
		return &Host{Addr: a, Ready: time.Since(t0), Process: p}, nil
	case <-p.Done():
		if strings.Contains(p.Output(), "address already in use") {
			return nil, fmt.Errorf("truce host serve --listen %s: %w", o.Listen, ErrPortTaken)
		}
		return nil, fmt.Errorf("truce host serve exited with code %d: %w:\n%s", p.ExitCode(), ErrNotReady, p.Output())
	case <-ctx.Done():
		p.Stop()
		return nil, fmt.Errorf("waiting for truce host serve: %w", ctx.Err())
	case <-deadline.C:
		p.Stop()
		return nil, fmt.Errorf("truce host serve was not ready within %v: %w:\n%s", o.Ready, ErrNotReady, p.Output())
	}
}

// Stop stops the host's process (which stops its runtimes).
func (h *Host) Stop() { h.Process.Stop() }

// FreeAddr returns a loopback address whose port is free right now.
// Another process may take it before it is used: a host started on it may
// fail with ErrPortTaken.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Group is a set of processes stopped together, newest first (hosts
// before the attestation service they were started on). The zero value is
// empty and ready to use.
type Group struct {
	mu    sync.Mutex
	procs []*Process
}

// Add adds p to the group and returns it.
func (g *Group) Add(p *Process) *Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.procs = append(g.procs, p)
	return p
}

// Stop stops every process of the group, newest first, and empties it.
func (g *Group) Stop() {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
}
