// Package hosttest holds in-process fakes for testing the host: an
// attestation service that certifies any well-signed CSR, and a launcher
// of fake runtimes that speak the control protocol and serve a handler over
// TLS. They live apart from trucetest so that packages the host depends on
// can use trucetest without importing the host.
//
// It must never be imported by code that ships in the truce binary.
package hosttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/internal/control"
	"github.com/truce-project/truce/internal/host"
	"github.com/truce-project/truce/internal/trucetest"
)

// FakePAS issues enclave certificates from a World's CA for any CSR whose
// signature verifies, claiming the measurement it is told. It checks that
// the nonce is one it handed out. It does not look at evidence: it stands
// in for the attestation service in tests of the host.
type FakePAS struct {
	W *trucetest.World
	T testing.TB
	// Measurement claimed in certificates; nil means W.Measurement.
	Measurement []byte
	// Lifetime of certificates; zero means an hour.
	Lifetime time.Duration
	// Fail, when set, makes Attest fail.
	Fail atomic.Bool
	// Refusal, when set, is the error Attest fails with while Fail is set
	// (such as a *pas.ProblemError carrying a verdict); nil means a plain
	// error.
	Refusal error
	// Issued counts certificates issued.
	Issued atomic.Int64

	mu     sync.Mutex
	nonces map[string]bool
}

// Nonce returns a fresh random nonce.
func (p *FakePAS) Nonce(context.Context) ([]byte, error) {
	n := make([]byte, 32)
	rand.Read(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nonces == nil {
		p.nonces = map[string]bool{}
	}
	p.nonces[string(n)] = true
	return n, nil
}

// Accept makes n a nonce Attest accepts once.
func (p *FakePAS) Accept(n []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nonces == nil {
		p.nonces = map[string]bool{}
	}
	p.nonces[string(n)] = true
}

// Attest issues a certificate for the CSR's key.
func (p *FakePAS) Attest(_ context.Context, req host.AttestRequest) ([]*x509.Certificate, error) {
	if p.Fail.Load() {
		if p.Refusal != nil {
			return nil, p.Refusal
		}
		return nil, errors.New("fake PAS told to fail")
	}
	p.mu.Lock()
	ok := p.nonces[string(req.Nonce)]
	delete(p.nonces, string(req.Nonce))
	p.mu.Unlock()
	if !ok {
		return nil, errors.New("unknown nonce")
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	pub, ok := csr.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("CSR key is not ECDSA")
	}
	life := p.Lifetime
	if life == 0 {
		life = time.Hour
	}
	p.Issued.Add(1)
	return p.W.Issue(p.T, pub, p.Measurement, time.Now().Add(life)), nil
}

// FakeLauncher starts in-process fake runtimes that speak the control
// protocol and serve Handler over TLS 1.3 on the socket they are given,
// requiring a principal's client certificate. POST /v1/shutdown stops them.
type FakeLauncher struct {
	W       *trucetest.World
	Handler http.Handler
	// Launched counts runtimes started.
	Launched atomic.Int64
	// Die, when closed, makes every fake runtime exit at once with an error.
	Die chan struct{}
}

// Launch starts a fake runtime.
func (l *FakeLauncher) Launch(ctx context.Context, spec host.LaunchSpec) (host.Process, error) {
	l.Launched.Add(1)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &fakeProc{in: inW, out: outR, done: make(chan struct{})}
	go p.run(l, spec, inR, outW)
	return p, nil
}

type fakeProc struct {
	in   *io.PipeWriter
	out  *io.PipeReader
	done chan struct{}
	err  error
	once sync.Once
}

func (p *fakeProc) Stdin() io.WriteCloser { return p.in }
func (p *fakeProc) Stdout() io.Reader     { return p.out }
func (p *fakeProc) Wait() error           { <-p.done; return p.err }
func (p *fakeProc) Kill() error           { p.finish(errors.New("killed")); return nil }
func (p *fakeProc) finish(err error) {
	p.once.Do(func() { p.err = err; p.out.Close(); close(p.done) })
}

func (p *fakeProc) run(l *FakeLauncher, spec host.LaunchSpec, in io.Reader, out *io.PipeWriter) {
	conn := control.NewConn(in, out)
	pol := l.W.Policy
	if err := conn.Send(control.Message{Type: control.TypeHello, Platform: spec.Platform, PolicyHash: pol.HashHex()}); err != nil {
		p.finish(err)
		return
	}
	var cur atomic.Pointer[tls.Certificate]
	var key *ecdsa.PrivateKey
	var srv *http.Server
	die := l.Die
	if die == nil {
		die = make(chan struct{})
	}
	go func() {
		select {
		case <-die:
			if srv != nil {
				srv.Close()
			}
			p.finish(errors.New("fake runtime died"))
		case <-p.done:
		}
	}()
	for {
		m, err := conn.Receive()
		if err != nil {
			if srv != nil {
				srv.Close()
			}
			p.finish(nil) // control input closed: stop cleanly
			return
		}
		switch m.Type {
		case control.TypeAttest:
			key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fake enclave"}}, key)
			conn.Send(control.Message{Type: control.TypeEvidence, Platform: spec.Platform, Evidence: []byte("fake"), CSR: csr})
		case control.TypeCertificate:
			if key == nil || len(m.Chain) == 0 {
				conn.Send(control.Message{Type: control.TypeError, Message: "certificate before attest"})
				continue
			}
			leaf, err := x509.ParseCertificate(m.Chain[0])
			if err != nil {
				conn.Send(control.Message{Type: control.TypeError, Message: err.Error()})
				continue
			}
			cur.Store(&tls.Certificate{Certificate: m.Chain, PrivateKey: key, Leaf: leaf})
			if srv == nil {
				network, addr := "unix", strings.TrimPrefix(spec.Listen, "unix:")
				ln, err := net.Listen(network, addr)
				if err != nil {
					conn.Send(control.Message{Type: control.TypeError, Message: err.Error()})
					p.finish(err)
					return
				}
				mux := http.NewServeMux()
				mux.HandleFunc("POST "+api.PathShutdown, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusNoContent)
					go func() {
						time.Sleep(50 * time.Millisecond)
						conn.Send(control.Message{Type: control.TypeStopped})
						srv.Close()
						p.finish(nil)
					}()
				})
				mux.Handle("/", l.Handler)
				srv = &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0)}
				cfg := &tls.Config{
					MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAnyClientCert,
					GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cur.Load(), nil },
					VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
						if len(raw) == 0 || pol.PrincipalByCert(raw[0]) == nil {
							return fmt.Errorf("not a principal")
						}
						return nil
					},
				}
				go srv.Serve(tls.NewListener(ln, cfg))
			}
			conn.Send(control.Message{Type: control.TypeReady, Listen: spec.Listen, NotAfter: leaf.NotAfter})
		}
	}
}
