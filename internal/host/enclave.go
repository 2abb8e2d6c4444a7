package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/truce-project/truce/internal/control"
	"github.com/truce-project/truce/internal/paswire"
)

// enclave drives one runtime through the control protocol.
type enclave struct {
	h    *Host
	spec Enclave
	name string

	mu       sync.Mutex
	state    string
	network  string
	addr     string
	notAfter time.Time
	renewals int
	pid      int // the runtime's process while it runs, if known
}

func (e *enclave) setState(s string) {
	e.mu.Lock()
	e.state = s
	e.mu.Unlock()
	e.h.m.setState(e.name, s)
}

func (e *enclave) getState() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// target returns where to relay connections, if the enclave is ready.
func (e *enclave) target() (network, addr string, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.network, e.addr, e.state == StateReady
}

// errStopped ends run without error: a principal shut the enclave down.
var errStopped = errors.New("runtime stopped")

// run starts the runtime, attests it, renews its certificate and returns
// when it stops (nil after a principal's shutdown, an error otherwise) or
// ctx ends (nil).
func (e *enclave) run(ctx context.Context, onReady func()) (err error) {
	log := e.h.log.With("enclave", e.name, "policy", e.spec.Policy.Name)
	dir, err := os.MkdirTemp("", "truce-host-")
	if err != nil {
		e.setState(StateDown)
		return fmt.Errorf("making the host's private directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil {
		e.setState(StateDown)
		return fmt.Errorf("restricting %s: %w", dir, err)
	}
	polFile := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(polFile, e.spec.Policy.Bytes(), 0o600); err != nil {
		e.setState(StateDown)
		return fmt.Errorf("writing the policy for the runtime: %w", err)
	}
	sock := filepath.Join(dir, "runtime.sock")
	e.mu.Lock()
	e.network, e.addr = "unix", sock
	e.mu.Unlock()

	proc, err := e.h.cfg.Launcher.Launch(ctx, LaunchSpec{
		PolicyFile: polFile, Platform: e.spec.Platform, Listen: "unix:" + sock,
		SimDeviceKey: e.spec.SimDeviceKey, Dir: dir, Log: e.h.cfg.RuntimeLog,
		MaxRuns: e.spec.MaxRuns, MemoryMiB: e.spec.MemoryMiB,
	})
	if err != nil {
		e.setState(StateDown)
		return fmt.Errorf("enclave %s: %w", e.name, err)
	}
	if p, ok := proc.(interface{ PID() int }); ok {
		e.mu.Lock()
		e.pid = p.PID()
		e.mu.Unlock()
		defer func() {
			e.mu.Lock()
			e.pid = 0
			e.mu.Unlock()
		}()
	}
	log.Info("runtime started", "platform", e.spec.Platform)

	exitDone := make(chan struct{})
	var exitErr error
	msgs := make(chan control.Message, 4)
	readErr := make(chan error, 1)
	conn := control.NewConn(proc.Stdout(), proc.Stdin())
	go func() {
		for {
			m, err := conn.Receive()
			if err != nil {
				if errors.Is(err, control.ErrTooLong) || errors.Is(err, control.ErrMalformed) {
					log.Warn("bad control message from the runtime", "err", err)
					continue
				}
				readErr <- err
				return
			}
			msgs <- m
		}
	}()
	go func() { exitErr = proc.Wait(); close(exitDone) }()
	// died describes the end of the control output, with the runtime's
	// exit status when it comes soon after.
	died := func(err error) error {
		select {
		case <-exitDone:
			if exitErr != nil {
				return fmt.Errorf("%w (%v); see its log", ErrRuntimeDied, exitErr)
			}
			return fmt.Errorf("%w with exit code 0 without saying it stopped", ErrRuntimeDied)
		case <-time.After(2 * time.Second):
		}
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: its control output closed", ErrRuntimeDied)
		}
		return fmt.Errorf("%w: %v", ErrRuntimeDied, err)
	}

	stopped := false
	defer func() {
		// Stop the runtime: close its control input, give it a moment,
		// then kill it. A runtime that stopped on its own is only reaped.
		proc.Stdin().Close()
		select {
		case <-exitDone:
			if exitErr != nil && err == nil && !stopped && ctx.Err() == nil {
				err = fmt.Errorf("%w: %v", ErrRuntimeDied, exitErr)
			}
		case <-time.After(stopGrace):
			log.Warn("runtime did not stop; killing it")
			proc.Kill()
			<-exitDone
		}
		if c, ok := proc.Stdout().(io.Closer); ok {
			c.Close()
		}
		if stopped {
			e.setState(StateStopped)
			log.Info("enclave stopped by a principal")
		} else if ctx.Err() == nil || err != nil {
			e.setState(StateDown)
		} else {
			e.setState(StateStopped)
		}
	}()

	// next waits for a message of one of the wanted types.
	next := func(timeout time.Duration, want ...string) (control.Message, error) {
		var tc <-chan time.Time
		if timeout > 0 {
			t := time.NewTimer(timeout)
			defer t.Stop()
			tc = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return control.Message{}, ctx.Err()
			case <-tc:
				return control.Message{}, fmt.Errorf("the runtime sent no %s within %v", strings.Join(want, " or "), timeout)
			case err := <-readErr:
				return control.Message{}, died(err)
			case m := <-msgs:
				switch {
				case m.Type == control.TypeStopped:
					stopped = true
					return m, errStopped
				case contains(want, m.Type):
					return m, nil
				case m.Type == control.TypeError && m.Verdict.Valid():
					return m, fmt.Errorf("the runtime reports: %s: %w", m.Message, m.Verdict)
				case m.Type == control.TypeError:
					return m, fmt.Errorf("the runtime reports: %s", m.Message)
				default:
					log.Warn("unexpected control message", "type", m.Type)
				}
			}
		}
	}

	hello, err := next(e.h.cfg.HelloTimeout*3, control.TypeHello)
	if err != nil {
		return e.end(ctx, fmt.Errorf("enclave %s: waiting for the runtime's hello: %w", e.name, err))
	}
	if hello.PolicyHash != e.spec.Policy.HashHex() {
		return fmt.Errorf("enclave %s: the runtime runs policy %s, not %s", e.name, hello.PolicyHash, e.spec.Policy.HashHex())
	}
	if hello.Platform != e.spec.Platform {
		return fmt.Errorf("enclave %s: the runtime reports platform %q, not %q", e.name, hello.Platform, e.spec.Platform)
	}
	e.setState(StateAttesting)

	// First attestation, retried while the attestation service is
	// unreachable or refuses (the runtime's own errors end it at once).
	// A service that is busy or limits this host's rate asks it to wait:
	// that is not a failed attempt, for up to maxThrottled in all.
	var ready control.Message
	throttledUntil := time.Now().Add(maxThrottled)
	for attempt := 0; ; attempt++ {
		ready, err = e.attest(ctx, conn, next)
		if err == nil {
			break
		}
		throttled := (errors.Is(err, paswire.ErrRateLimited) || errors.Is(err, paswire.ErrBusy)) && time.Now().Before(throttledUntil)
		if throttled {
			attempt--
		}
		// A second instance of a single-instance policy stays refused:
		// retrying would only repeat the refusal.
		if errors.Is(err, errStopped) || errors.Is(err, ErrRuntimeDied) || errors.Is(err, paswire.ErrSecondInstance) ||
			ctx.Err() != nil || attempt >= e.h.cfg.AttestRetries {
			return e.end(ctx, fmt.Errorf("enclave %s: attestation: %w", e.name, err))
		}
		log.Warn("attestation failed; trying again", "attempt", attempt+1, "throttled", throttled, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryDelay(err)):
		}
	}
	e.becameReady(ready, sock)
	log.Info("enclave ready", "not_after", ready.NotAfter)
	onReady()

	// Renew before expiry; on failure retry until the certificate lapses.
	for {
		wait := e.renewDelay()
		t := time.NewTimer(wait)
		var m control.Message
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case err := <-readErr:
			t.Stop()
			return fmt.Errorf("enclave %s: %w", e.name, died(err))
		case m = <-msgs:
			t.Stop()
			if m.Type == control.TypeStopped {
				stopped = true
				return nil
			}
			log.Warn("unexpected control message", "type", m.Type, "message", m.Message)
			continue
		case <-t.C:
		}
		ready, err := e.attest(ctx, conn, next)
		switch {
		case errors.Is(err, errStopped):
			return nil
		case err != nil && (errors.Is(err, ErrRuntimeDied) || ctx.Err() != nil):
			return e.end(ctx, fmt.Errorf("enclave %s: renewal: %w", e.name, err))
		case err != nil:
			log.Warn("certificate renewal failed; will retry", "err", err)
			continue
		}
		e.becameReady(ready, sock)
		e.mu.Lock()
		e.renewals++
		e.mu.Unlock()
		e.h.m.renewals.WithLabelValues(e.name).Inc()
		log.Info("certificate renewed", "not_after", ready.NotAfter)
	}
}

// end turns the outcome of a wait into run's result: nil after a
// principal's shutdown or when the host is stopping.
func (e *enclave) end(ctx context.Context, err error) error {
	if errors.Is(err, errStopped) || ctx.Err() != nil {
		return nil
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// attest runs one attest→evidence→certificate→ready exchange.
func (e *enclave) attest(ctx context.Context, conn *control.Conn, next func(time.Duration, ...string) (control.Message, error)) (control.Message, error) {
	outcome := "failed"
	defer func() { e.h.m.attestations.WithLabelValues(e.name, outcome).Inc() }()
	svc := e.h.cfg.PAS
	actx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	nonce, err := svc.Nonce(actx)
	if err != nil {
		return control.Message{}, fmt.Errorf("getting a nonce from the attestation service: %w", err)
	}
	if err := conn.Send(control.Message{Type: control.TypeAttest, Nonce: nonce}); err != nil {
		return control.Message{}, fmt.Errorf("%w: %v", ErrRuntimeDied, err)
	}
	ev, err := next(time.Minute, control.TypeEvidence)
	if err != nil {
		return control.Message{}, err
	}
	chain, err := svc.Attest(actx, AttestRequest{Platform: ev.Platform, Evidence: ev.Evidence, CSR: ev.CSR, Nonce: nonce, Policy: e.spec.Policy.Bytes()})
	if err != nil {
		// Tell the runtime, so that it waits for the next attest.
		m := control.Message{Type: control.TypeError, Message: "attestation service: " + err.Error()}
		errors.As(err, &m.Verdict)
		conn.Send(m)
		return control.Message{}, fmt.Errorf("the attestation service refused the evidence: %w", err)
	}
	ders := make([][]byte, len(chain))
	for i, c := range chain {
		ders[i] = c.Raw
	}
	if err := conn.Send(control.Message{Type: control.TypeCertificate, Chain: ders}); err != nil {
		return control.Message{}, fmt.Errorf("%w: %v", ErrRuntimeDied, err)
	}
	ready, err := next(time.Minute, control.TypeReady)
	if err != nil {
		return control.Message{}, err
	}
	outcome = "ok"
	return ready, nil
}

func (e *enclave) becameReady(m control.Message, sock string) {
	e.mu.Lock()
	e.notAfter = m.NotAfter
	if network, addr, ok := parseListen(m.Listen); ok {
		e.network, e.addr = network, addr
	} else {
		e.network, e.addr = "unix", sock
	}
	e.state = StateReady
	e.mu.Unlock()
	e.h.m.setState(e.name, StateReady)
}

// parseListen reads "unix:PATH", "tcp:HOST:PORT" or "HOST:PORT".
func parseListen(s string) (network, addr string, ok bool) {
	switch {
	case s == "":
		return "", "", false
	case strings.HasPrefix(s, "unix:"):
		return "unix", strings.TrimPrefix(s, "unix:"), true
	case strings.HasPrefix(s, "tcp:"):
		return "tcp", strings.TrimPrefix(s, "tcp:"), true
	case strings.HasPrefix(s, "/"):
		return "unix", s, true
	}
	return "tcp", s, true
}

// renewDelay is how long to wait before renewing: RenewAt of the
// remaining lifetime, at least a second.
func (e *enclave) renewDelay() time.Duration {
	e.mu.Lock()
	na := e.notAfter
	e.mu.Unlock()
	if na.IsZero() {
		return time.Hour
	}
	left := na.Sub(e.h.cfg.Now())
	d := time.Duration(float64(left) * e.h.cfg.RenewAt)
	return max(d, time.Second)
}
