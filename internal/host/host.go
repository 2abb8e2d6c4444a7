// Package host is the untrusted side of an enclave: it starts the runtime
// (on sim, a child process), relays its attestation to the proxy
// attestation service, renews its certificate before it expires, and
// relays client connections to it byte for byte, routing several enclaves
// on one port by the TLS server name the clients send.
//
// The host must never terminate, decrypt or alter the TLS between a client
// and an enclave, never hold a key that could read it, and never restart an
// enclave silently: a runtime that dies is logged, marked down and, by
// default, ends the host with an error. It must never import the runtime,
// the SDK client or the attestation service's store (internal/pas): it
// speaks to the service through internal/paswire and takes server names
// from package policy (internal/layering checks it).
package host

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/truce-project/truce/policy"
)

// AttestRequest is what the host posts to the attestation service for an
// enclave: its evidence and CSR, the nonce they bind and the policy.
type AttestRequest struct {
	Platform string
	Evidence []byte
	CSR      []byte
	Nonce    []byte
	Policy   []byte
}

// AttestationService is the proxy attestation service as the host sees
// it: a source of fresh nonces and an issuer of enclave certificates.
type AttestationService interface {
	// Nonce returns a fresh single-use nonce.
	Nonce(ctx context.Context) ([]byte, error)
	// Attest checks the evidence and returns the enclave's certificate
	// chain, leaf first.
	Attest(ctx context.Context, req AttestRequest) ([]*x509.Certificate, error)
}

// Enclave is one enclave to serve.
type Enclave struct {
	// Policy is the policy it runs.
	Policy *policy.Policy
	// Platform is where it runs; empty means "sim".
	Platform string
	// SimDeviceKey is the simulated device key file (sim only).
	SimDeviceKey string
	// MaxRuns bounds the program runs in progress at once in this
	// enclave (the runtime refuses one more with 429); zero means no
	// bound, or, with MemoryMiB, as many runs as fit in it.
	MaxRuns int
	// MemoryMiB bounds the runtime's writable memory (RLIMIT_DATA on a
	// child process; the runtime's Go heap is told to stay under it too).
	// It must hold the runtime itself (RuntimeBaseMiB) plus MaxRuns runs
	// of the policy's memory limit. Zero means no bound.
	MemoryMiB int
}

// RuntimeBaseMiB is the writable memory a runtime needs before it runs
// anything (its Go heap, the WebAssembly engine, TLS), with a margin: the
// wasmtime-backed runtime starts within about 160 MiB of RLIMIT_DATA.
const RuntimeBaseMiB = 256

// ErrLimits is returned by New for per-enclave limits that cannot hold.
var ErrLimits = errors.New("enclave limits do not fit")

// fitLimits checks e's limits and fills in MaxRuns from MemoryMiB.
func fitLimits(e *Enclave) error {
	if e.MaxRuns < 0 || e.MemoryMiB < 0 {
		return fmt.Errorf("%w: policy %q: MaxRuns %d and MemoryMiB %d must not be negative", ErrLimits, e.Policy.Name, e.MaxRuns, e.MemoryMiB)
	}
	if e.MemoryMiB == 0 {
		return nil
	}
	per := int(e.Policy.Limits.Memory() >> 20)
	if e.MaxRuns == 0 {
		e.MaxRuns = (e.MemoryMiB - RuntimeBaseMiB) / per
		if e.MaxRuns < 1 {
			return fmt.Errorf("%w: policy %q lets a run use %d MiB; with the runtime's %d MiB that needs a memory limit of at least %d MiB, not %d",
				ErrLimits, e.Policy.Name, per, RuntimeBaseMiB, RuntimeBaseMiB+per, e.MemoryMiB)
		}
		return nil
	}
	if need := RuntimeBaseMiB + e.MaxRuns*per; e.MemoryMiB < need {
		return fmt.Errorf("%w: policy %q lets a run use %d MiB; %d runs at once and the runtime's %d MiB need %d MiB, not %d: raise the memory limit or lower the runs",
			ErrLimits, e.Policy.Name, per, e.MaxRuns, RuntimeBaseMiB, need, e.MemoryMiB)
	}
	return nil
}

// Config configures a Host. Only Enclaves and PAS are required.
type Config struct {
	Enclaves []Enclave
	// PAS is the attestation service.
	PAS AttestationService
	// Launcher starts runtimes; nil means ExecLauncher{}.
	Launcher Launcher
	// Logger receives the host's structured log; nil means slog.Default().
	Logger *slog.Logger
	// RuntimeLog receives the runtimes' own logs; nil means os.Stderr.
	RuntimeLog io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RenewAt is the fraction of a certificate's lifetime after which it is
	// renewed; zero means 2/3.
	RenewAt float64
	// KeepServing makes the host go on serving the other enclaves when a
	// runtime dies, instead of ending with an error.
	KeepServing bool
	// HelloTimeout bounds how long a client may take to send its
	// ClientHello, and the runtime its first control message; zero means
	// 10 seconds.
	HelloTimeout time.Duration
	// AttestRetries is how many times a failed first attestation is tried
	// again, a second apart; zero means 5, negative means none.
	AttestRetries int
}

// Host serves enclaves. Make one with New and run it with Serve.
type Host struct {
	cfg      Config
	log      *slog.Logger
	m        *metrics
	enclaves []*enclave
	byName   map[string]*enclave
	ready    chan struct{}

	connMu sync.Mutex
	conns  map[net.Conn]struct{}
}

// ErrRuntimeDied is returned by Serve when a runtime exits without having
// been shut down by a principal.
var ErrRuntimeDied = errors.New("runtime exited unexpectedly")

// New checks cfg and makes a Host.
func New(cfg Config) (*Host, error) {
	if len(cfg.Enclaves) == 0 {
		return nil, errors.New("host: no enclave to serve: give at least one policy")
	}
	if cfg.PAS == nil {
		return nil, errors.New("host: no attestation service configured")
	}
	if cfg.Launcher == nil {
		cfg.Launcher = ExecLauncher{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RuntimeLog == nil {
		cfg.RuntimeLog = os.Stderr
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RenewAt <= 0 || cfg.RenewAt >= 1 {
		cfg.RenewAt = 2.0 / 3
	}
	if cfg.HelloTimeout == 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	if cfg.AttestRetries == 0 {
		cfg.AttestRetries = 5
	}
	h := &Host{cfg: cfg, log: cfg.Logger, m: newMetrics(), byName: map[string]*enclave{},
		ready: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	h.m.reg.MustRegister(enclaveCollector{h})
	for _, e := range cfg.Enclaves {
		if e.Policy == nil {
			return nil, errors.New("host: an enclave has no policy")
		}
		if e.Platform == "" {
			e.Platform = "sim"
		}
		if err := fitLimits(&e); err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
		name := e.Policy.ServerName()
		if _, dup := h.byName[name]; dup {
			return nil, fmt.Errorf("host: policy %s given twice", e.Policy.HashHex())
		}
		en := &enclave{h: h, spec: e, name: name, state: StateStarting}
		h.m.setState(name, StateStarting)
		h.enclaves = append(h.enclaves, en)
		h.byName[name] = en
	}
	return h, nil
}

// Ready is closed once every enclave has been attested the first time.
func (h *Host) Ready() <-chan struct{} { return h.ready }

// EnclaveStatus describes one enclave served.
type EnclaveStatus struct {
	// ServerName is the TLS server name clients send to reach it.
	ServerName string
	PolicyHash string
	State      string
	// NotAfter is when its current certificate expires.
	NotAfter time.Time
	// Renewals counts completed certificate renewals.
	Renewals int
}

// Status reports every enclave's state.
func (h *Host) Status() []EnclaveStatus {
	var out []EnclaveStatus
	for _, e := range h.enclaves {
		e.mu.Lock()
		out = append(out, EnclaveStatus{ServerName: e.name, PolicyHash: e.spec.Policy.HashHex(), State: e.state, NotAfter: e.notAfter, Renewals: e.renewals})
		e.mu.Unlock()
	}
	return out
}

// Serve starts every enclave, then relays connections accepted on ln until
// ctx ends (it returns nil), every enclave has been shut down by a
// principal (nil), or a runtime dies or cannot be attested (an error,
// unless KeepServing and another enclave still serves). It closes ln and
// stops every runtime before returning.
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		e   *enclave
		err error
	}
	done := make(chan outcome, len(h.enclaves))
	readyCount := make(chan struct{}, len(h.enclaves))
	var wg sync.WaitGroup
	for _, e := range h.enclaves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.run(ctx, func() { readyCount <- struct{}{} })
			done <- outcome{e, err}
		}()
	}
	go func() {
		for range h.enclaves {
			select {
			case <-readyCount:
			case <-ctx.Done():
				return
			}
		}
		close(h.ready)
		h.log.Info("all enclaves ready", "listen", ln.Addr().String(), "enclaves", len(h.enclaves))
	}()
	acceptErr := make(chan error, 1)
	go func() { acceptErr <- h.accept(ctx, ln) }()

	var result error
	left := len(h.enclaves)
loop:
	for left > 0 {
		select {
		case <-ctx.Done():
			break loop
		case err := <-acceptErr:
			if ctx.Err() == nil {
				result = fmt.Errorf("accepting connections: %w", err)
			}
			break loop
		case o := <-done:
			left--
			if o.err != nil {
				h.log.Error("enclave down", "enclave", o.e.name, "err", o.err)
				if !h.cfg.KeepServing || left == 0 {
					result = o.err
					break loop
				}
			}
		}
	}
	cancel()
	ln.Close()
	h.closeConns()
	wg.Wait()
	return result
}

func (h *Host) closeConns() {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	for c := range h.conns {
		c.Close()
	}
}

func (h *Host) track(c net.Conn, add bool) {
	h.connMu.Lock()
	defer h.connMu.Unlock()
	if add {
		h.conns[c] = struct{}{}
	} else {
		delete(h.conns, c)
	}
}

func (h *Host) accept(ctx context.Context, ln net.Listener) error {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		go h.relay(ctx, c)
	}
}

// route picks the enclave for a server name: by name, or the only enclave
// when the client sent none.
func (h *Host) route(name string) *enclave {
	if name == "" {
		if len(h.enclaves) == 1 {
			return h.enclaves[0]
		}
		return nil
	}
	return h.byName[name]
}

// relay passes one client connection to its enclave, byte for byte.
func (h *Host) relay(ctx context.Context, c net.Conn) {
	h.track(c, true)
	defer h.track(c, false)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(h.cfg.HelloTimeout))
	name, prefix, err := PeekServerName(c)
	if err != nil {
		h.m.connections.WithLabelValues("", "not_tls").Inc()
		h.log.Debug("refused connection", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	e := h.route(name)
	if e == nil {
		h.m.connections.WithLabelValues("", "refused").Inc()
		h.log.Info("refused connection: no enclave for server name", "remote", c.RemoteAddr().String(), "server_name", name)
		return
	}
	network, addr, ok := e.target()
	if !ok {
		h.m.connections.WithLabelValues(e.name, "refused").Inc()
		h.log.Info("refused connection: enclave not ready", "enclave", e.name, "state", e.getState())
		return
	}
	var d net.Dialer
	up, err := d.DialContext(ctx, network, addr)
	if err != nil {
		h.m.connections.WithLabelValues(e.name, "dial_failed").Inc()
		h.log.Warn("cannot reach the runtime", "enclave", e.name, "err", err)
		return
	}
	h.track(up, true)
	defer h.track(up, false)
	defer up.Close()
	h.m.connections.WithLabelValues(e.name, "relayed").Inc()
	h.m.active.Inc()
	defer h.m.active.Dec()
	toEnclave := h.m.bytes.WithLabelValues(e.name, "to_enclave")
	toClient := h.m.bytes.WithLabelValues(e.name, "to_client")
	if _, err := up.Write(prefix); err != nil {
		return
	}
	toEnclave.Add(float64(len(prefix)))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		pipe(up, c, toEnclave)
	}()
	go func() {
		defer wg.Done()
		pipe(c, up, toClient)
	}()
	wg.Wait()
}

type counter interface{ Add(float64) }

// lingerTime bounds how long a relay keeps reading (and discarding) what a
// side still sends after the other side stopped taking it.
const lingerTime = 2 * time.Second

// pipe copies src to dst, counting bytes, and then half-closes dst (or
// closes both when half-closing is not possible).
//
// When dst stops taking bytes (the enclave refused a request and closed
// before reading its whole body), src is not closed at once: closing a
// socket with unread bytes sends a reset, which makes the peer's kernel
// drop the answer it has not read yet (the refusal itself). src is read
// and discarded for up to lingerTime instead, while the other direction
// delivers the answer.
func pipe(dst, src net.Conn, n counter) {
	buf := make([]byte, 64<<10)
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				_ = src.SetReadDeadline(time.Now().Add(lingerTime))
				_, _ = io.CopyBuffer(io.Discard, src, buf)
				src.Close()
				return
			}
			n.Add(float64(k))
		}
		if err != nil {
			break
		}
	}
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := dst.(closeWriter); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}
