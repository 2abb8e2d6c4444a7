package host_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/internal/host"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/internal/trucetest/hosttest"
	"github.com/truce-project/truce/policy"
)

// memFiles is a tiny file API for the fake runtimes.
type memFiles struct {
	mu    sync.Mutex
	pol   []byte
	files map[string][]byte
}

func (m *memFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.URL.Path == api.PathPolicy {
		w.Write(m.pol)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, api.PathFiles)
	switch r.Method {
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		m.files[p] = b
		w.Write([]byte(`{}`))
	case http.MethodGet:
		b, ok := m.files[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}
}

type rig struct {
	w      *trucetest.World
	pas    *hosttest.FakePAS
	launch *hosttest.FakeLauncher
	h      *host.Host
	addr   string
	fin    chan struct{}
	err    error
	cancel context.CancelFunc
}

// wait returns Serve's result, or fails the test after d.
func (r *rig) wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-r.fin:
		return r.err
	case <-time.After(d):
		t.Fatal("host did not end")
		return nil
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t testing.TB, life time.Duration, modify func(*host.Config)) *rig {
	return startWith(t, life, nil, modify)
}

// startWith starts a host whose fake runtime serves handler(policy bytes),
// or memFiles when handler is nil.
func startWith(t testing.TB, life time.Duration, handler func([]byte) http.Handler, modify func(*host.Config)) *rig {
	t.Helper()
	w := trucetest.NewWorld(t, trucetest.WorldOptions{})
	var hd http.Handler = &memFiles{pol: w.Policy.Bytes(), files: map[string][]byte{}}
	if handler != nil {
		hd = handler(w.Policy.Bytes())
	}
	r := &rig{w: w, pas: &hosttest.FakePAS{W: w, T: t, Lifetime: life},
		launch: &hosttest.FakeLauncher{W: w, Handler: hd, Die: make(chan struct{})}}
	cfg := host.Config{Enclaves: []host.Enclave{{Policy: w.Policy}}, PAS: r.pas, Launcher: r.launch, Logger: quietLog(), AttestRetries: -1}
	if modify != nil {
		modify(&cfg)
	}
	h, err := host.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.h = h
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.fin = make(chan struct{})
	go func() { r.err = h.Serve(ctx, ln); close(r.fin) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.fin:
		case <-time.After(10 * time.Second):
			t.Error("host did not stop")
		}
	})
	return r
}

func (r *rig) waitReady(t testing.TB) {
	t.Helper()
	select {
	case <-r.h.Ready():
	case <-r.fin:
		t.Fatalf("host ended before ready: %v", r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("host not ready")
	}
}

func TestRelayAndShutdown(t *testing.T) {
	r := start(t, 0, nil)
	r.waitReady(t)
	ctx := context.Background()
	s, err := client.Dial(ctx, r.w.Policy, r.w.IDs["alice"], client.WithAddr(r.addr))
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("truce"), 200000)
	if _, err := s.Put(ctx, "/input/x", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := s.Get(ctx, "/input/x", &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("read back differs")
	}
	// Metrics count what was relayed.
	rec := httptest.NewRecorder()
	r.h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`truce_host_connections_total{enclave="` + r.w.Policy.ServerName() + `",outcome="relayed"}`,
		`truce_host_attestations_total{enclave="` + r.w.Policy.ServerName() + `",outcome="ok"} 1`,
		`state="ready"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(body, "truce_host_relayed_bytes_total") {
		t.Error("no relayed bytes metric")
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.wait(t, 10*time.Second); err != nil {
		t.Fatalf("host ended with %v after a principal's shutdown", err)
	}
	if st := r.h.Status()[0].State; st != host.StateStopped {
		t.Fatalf("state %s", st)
	}
}

func TestRenewal(t *testing.T) {
	r := start(t, 3*time.Second, nil)
	r.waitReady(t)
	first := r.h.Status()[0].NotAfter
	deadline := time.Now().Add(15 * time.Second)
	for r.h.Status()[0].Renewals < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no renewal")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !r.h.Status()[0].NotAfter.After(first) {
		t.Fatal("renewal did not extend the certificate")
	}
	// A new connection sees the renewed certificate.
	s, err := client.Dial(context.Background(), r.w.Policy, r.w.IDs["alice"], client.WithAddr(r.addr))
	if err != nil {
		t.Fatal(err)
	}
	_, chain := s.Enclave()
	if !chain[0].NotAfter.After(first) {
		t.Fatalf("client saw the old certificate (%v)", chain[0].NotAfter)
	}
}

func TestRuntimeDeathEndsHost(t *testing.T) {
	r := start(t, 0, nil)
	r.waitReady(t)
	close(r.launch.Die)
	if err := r.wait(t, 10*time.Second); !errors.Is(err, host.ErrRuntimeDied) {
		t.Fatalf("error %v, want ErrRuntimeDied", err)
	}
	if st := r.h.Status()[0].State; st != host.StateDown {
		t.Fatalf("state %s, want down", st)
	}
	if n := r.launch.Launched.Load(); n != 1 {
		t.Fatalf("runtime launched %d times: restarted silently", n)
	}
}

func TestAttestationRefused(t *testing.T) {
	// The PAS refuses from the start: set before the host first attests.
	r := start(t, 0, func(c *host.Config) { c.PAS.(*hosttest.FakePAS).Fail.Store(true) })
	if err := r.wait(t, 10*time.Second); err == nil || !strings.Contains(err.Error(), "attestation") {
		t.Fatalf("error %v", err)
	}
}

// TestAttestationRefusedVerdict: the service's verdict reaches the host's
// error, so that its log says which claim failed.
func TestAttestationRefusedVerdict(t *testing.T) {
	v := &attest.Verdict{Rule: attest.RuleMinimumTCB, Claim: "snp tcb microcode", Expected: "≥ 115", Actual: "114"}
	r := start(t, 0, func(c *host.Config) {
		p := c.PAS.(*hosttest.FakePAS)
		p.Refusal = fmt.Errorf("attestation service refused: %w", v)
		p.Fail.Store(true)
	})
	err := r.wait(t, 10*time.Second)
	var got *attest.Verdict
	if !errors.As(err, &got) || got.Claim != v.Claim || !errors.Is(err, attest.ErrTCBTooLow) ||
		!strings.Contains(err.Error(), "snp tcb microcode: expected ≥ 115, got 114") {
		t.Fatalf("error %v, want the verdict", err)
	}
}

// muxPAS and muxLauncher serve two Worlds from one host.
type muxPAS struct {
	by map[[32]byte]*hosttest.FakePAS
}

func (m muxPAS) Nonce(ctx context.Context) ([]byte, error) {
	n := make([]byte, 32)
	rand.Read(n)
	for _, p := range m.by {
		p.Accept(n)
	}
	return n, nil
}

func (m muxPAS) Attest(ctx context.Context, req host.AttestRequest) ([]*x509.Certificate, error) {
	p, ok := m.by[policy.Hash(req.Policy)]
	if !ok {
		return nil, errors.New("unknown policy")
	}
	return p.Attest(ctx, req)
}

func tlsClientNoSNI(c net.Conn) *tls.Conn {
	return tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
}

type muxLauncher struct {
	by map[[32]byte]*hosttest.FakeLauncher

	mu    sync.Mutex
	specs map[[32]byte]host.LaunchSpec // what each enclave was launched with
}

func (m *muxLauncher) Launch(ctx context.Context, spec host.LaunchSpec) (host.Process, error) {
	b, err := os.ReadFile(spec.PolicyFile)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.specs[policy.Hash(b)] = spec
	m.mu.Unlock()
	return m.by[policy.Hash(b)].Launch(ctx, spec)
}

func TestSNIRouting(t *testing.T) {
	w1 := trucetest.NewWorld(t, trucetest.WorldOptions{})
	w2 := trucetest.NewWorld(t, trucetest.WorldOptions{})
	pas := muxPAS{by: map[[32]byte]*hosttest.FakePAS{}}
	ls := &muxLauncher{by: map[[32]byte]*hosttest.FakeLauncher{}, specs: map[[32]byte]host.LaunchSpec{}}
	for _, w := range []*trucetest.World{w1, w2} {
		pas.by[w.Policy.Hash()] = &hosttest.FakePAS{W: w, T: t}
		ls.by[w.Policy.Hash()] = &hosttest.FakeLauncher{W: w, Handler: &memFiles{pol: w.Policy.Bytes(), files: map[string][]byte{}}}
	}
	// Each enclave with its own limits: w2's runs are derived from its
	// memory (1024 MiB - 256 MiB for the runtime) / 256 MiB per run.
	h, err := host.New(host.Config{Enclaves: []host.Enclave{{Policy: w1.Policy, MaxRuns: 2}, {Policy: w2.Policy, MemoryMiB: 1024}},
		PAS: pas, Launcher: ls, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	for _, w := range []*trucetest.World{w1, w2} {
		s, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(ln.Addr().String()))
		if err != nil {
			t.Fatalf("dial %s: %v", w.Policy.HashHex()[:8], err)
		}
		s.Close()
	}
	if sp := ls.specs[w1.Policy.Hash()]; sp.MaxRuns != 2 || sp.MemoryMiB != 0 {
		t.Errorf("enclave 1 launched with limits %d runs, %d MiB", sp.MaxRuns, sp.MemoryMiB)
	}
	if sp := ls.specs[w2.Policy.Hash()]; sp.MaxRuns != 3 || sp.MemoryMiB != 1024 {
		t.Errorf("enclave 2 launched with limits %d runs, %d MiB", sp.MaxRuns, sp.MemoryMiB)
	}
	rec := httptest.NewRecorder()
	h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	n1, n2 := w1.Policy.ServerName(), w2.Policy.ServerName()
	for _, want := range []string{
		`truce_host_connections_total{enclave="` + n1 + `",outcome="relayed"} 1`,
		`truce_host_connections_total{enclave="` + n2 + `",outcome="relayed"} 1`,
		`truce_host_enclave_max_runs{enclave="` + n1 + `"} 2`,
		`truce_host_enclave_max_runs{enclave="` + n2 + `"} 3`,
		`truce_host_enclave_memory_limit_bytes{enclave="` + n2 + `"} 1.073741824e+09`,
		`truce_host_enclave_state{enclave="` + n1 + `",state="ready"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// A successor of w1's policy names w1's chain: its clients send w1's
	// server name and reach the enclave that started with w1's policy.
	succ := successorOf(t, w1.Policy)
	if succ.ServerName() != n1 {
		t.Fatalf("successor's server name %s, genesis's %s", succ.ServerName(), n1)
	}
	id := w1.IDs["alice"]
	var chain []*x509.Certificate
	sc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		MinVersion: tls.VersionTLS13, ServerName: succ.ServerName(), NextProtos: []string{"http/1.1"},
		Certificates:       []tls.Certificate{{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}},
		InsecureSkipVerify: true, // the chain is checked below
		VerifyConnection:   func(cs tls.ConnectionState) error { chain = cs.PeerCertificates; return nil },
	})
	if err != nil {
		t.Fatalf("a successor's client was not routed: %v", err)
	}
	sc.Close()
	if _, err := attest.CheckEnclave(chain, succ, time.Now()); err != nil {
		t.Fatalf("a successor's client reached an enclave of another chain: %v", err)
	}
	if _, err := attest.CheckEnclave(chain, w2.Policy, time.Now()); err == nil {
		t.Fatal("the enclave a successor of w1's policy reached is w2's")
	}
	// Without SNI, with two enclaves, the host refuses.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tc := tlsClientNoSNI(c)
	if err := tc.Handshake(); err == nil {
		t.Fatal("a connection without server name reached an enclave")
	}
	// A name no enclave has is refused too.
	_, err = client.Dial(ctx, w1.Policy, w1.IDs["alice"], client.WithAddr(ln.Addr().String()),
		func(o *client.Options) { o.ServerName = "ffffffffffffffff.truce" })
	if !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("unknown server name: %v", err)
	}
}

func TestRefusesWhatIsNotTLS(t *testing.T) {
	r := start(t, 0, nil)
	r.waitReady(t)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("GET /v1/policy HTTP/1.1\r\nHost: x\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || err == nil {
		t.Fatalf("plain HTTP got an answer: %d %v", n, err)
	}
	rec := httptest.NewRecorder()
	r.h.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `truce_host_connections_total{enclave="",outcome="not_tls"} 1`) {
		t.Fatal("refusal not counted")
	}
}

func TestKeepServing(t *testing.T) {
	r := start(t, 0, func(c *host.Config) { c.KeepServing = true })
	r.waitReady(t)
	close(r.launch.Die)
	// With its only enclave down there is nothing left to serve: the host
	// still ends, with the error.
	if err := r.wait(t, 10*time.Second); !errors.Is(err, host.ErrRuntimeDied) {
		t.Fatalf("error %v", err)
	}
}

// successorOf returns a first successor of p (lifecycle.predecessor set,
// the rest as p).
func successorOf(t *testing.T, p *policy.Policy) *policy.Policy {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(p.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	m["lifecycle"] = map[string]any{"predecessor": map[string]any{"genesis": p.HashHex(), "policy": p.HashHex(), "sequence": 1}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := policy.Parse(b, time.Now())
	if err != nil {
		t.Fatalf("successor of %s: %v", p.HashHex(), err)
	}
	return s
}
