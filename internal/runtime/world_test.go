package runtime

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/shamir"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/control"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/pas/pastest"
	"github.com/truce-project/truce/internal/paswire"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/policy"
)

// The world of a runtime test: an in-process attestation service with its
// simulated device, parties with identities, a policy naming them, and the
// runtime serving on loopback TCP, driven by a test host over the control
// protocol that relays to the attestation service as the real host does.

var (
	sharedOnce sync.Once
	sharedEng  engine.Engine
	sharedErr  error
)

// testEngine is one engine for the whole package, so each program compiles
// once.
func testEngine(t testing.TB) engine.Engine {
	sharedOnce.Do(func() { sharedEng, sharedErr = engine.New(engine.Options{}) })
	if sharedErr != nil {
		t.Fatalf("engine: %v", sharedErr)
	}
	return sharedEng
}

// testIssuer is a rogue attestation service: it checks evidence as the real
// one does, but its CA is not the one the policy pins, so the runtime must
// refuse its certificates.
type testIssuer struct {
	key      *ecdsa.PrivateKey
	cert     *x509.Certificate
	verifier attest.Verifier
	lifetime time.Duration
	serial   atomic.Int64
}

func newIssuer(t testing.TB, dev *simprovider.Device) *testIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test attestation service CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testIssuer{key: key, cert: c, verifier: sim.NewVerifier(dev.Public()), lifetime: 2 * time.Hour}
}

// issue checks evidence and returns the chain (leaf, CA) for the CSR's key.
func (is *testIssuer) issue(pol *policy.Policy, evidence, csrDER, nonce []byte) ([][]byte, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, err
	}
	claims, err := is.verifier.Verify(evidence, attest.VerifyOptions{})
	if err != nil {
		return nil, err
	}
	spki, err := x509.MarshalPKIXPublicKey(csr.PublicKey)
	if err != nil {
		return nil, err
	}
	if claims.ReportData != attest.ReportData(spki, pol.Hash(), nonce) {
		return nil, attest.ErrBinding
	}
	if !attest.TrustsMeasurement(pol, claims.Platform, claims.Measurement) {
		return nil, attest.ErrUntrustedMeasurement
	}
	ext, err := attest.Identity{Platform: claims.Platform, Measurement: claims.Measurement, PolicyHash: pol.Hash(), Simulated: claims.Simulated}.Extension()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(100 + is.serial.Add(1)), Subject: pkix.Name{CommonName: "enclave"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(is.lifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		ExtraExtensions: []pkix.Extension{ext},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.cert, csr.PublicKey, is.key)
	if err != nil {
		return nil, err
	}
	return [][]byte{der, is.cert.Raw}, nil
}

// Program paths of the test policy.
const (
	pShamir = "/program/shamir.wasm"
	pNeeds  = "/program/needs.wasm" // the Shamir program with one named input
	pFail   = "/program/fail.wasm"
	pLoop   = "/program/loop.wasm"
	pHog    = "/program/hog.wasm"
	pTrap   = "/program/trap.wasm"
	pCopy   = "/program/copy.wasm"
)

type world struct {
	t        testing.TB
	pas      *pastest.Server
	dev      *simprovider.Device
	issuer   *testIssuer // a rogue CA with the same device, for refusals
	ids      map[string]*identity.Identity
	pol      *policy.Policy
	rt       *Runtime
	host     *control.Conn
	hostW    io.WriteCloser
	addr     string
	served   chan error
	offset   atomic.Int64 // added to the runtime's clock
	misWasm  []byte
	lastCert []byte
	unix     bool
	maxRuns  int
	network  string
	audit    int64
	server   ServerLimits
}

type worldOptions struct {
	expires     time.Time
	fileMiB     int
	totalMiB    int
	execSeconds int
	memoryMiB   int
	unix        bool // serve on a Unix socket instead of loopback TCP
	// budgets, holds and lifecycle are added to the policy when set;
	// budgets maps principal → grant path → budget.
	budgets   map[string]map[string]policy.Budget
	holds     []policy.Hold
	lifecycle *policy.Lifecycle
	maxRuns   int
	// auditBytes is the runtime's AuditBytes.
	auditBytes int64
	server     ServerLimits // the API server's limits (zero: the defaults)
	// caps adds rights to principals' capabilities.
	caps map[string]capability.Set
}

func principalCaps() map[string]capability.Set {
	return map[string]capability.Set{
		"paula": {"/program/": capability.Write},
		"alice": {"/input/shamir-0.dat": capability.Write, "/input/shamir-1.dat": capability.Write},
		"bob":   {"/input/shamir-2.dat": capability.Write | capability.Append, "/data/big.dat": capability.Write, pShamir: capability.Append},
		"rita": {"/output/": capability.Read, pShamir: capability.Execute, pNeeds: capability.Execute, pFail: capability.Execute,
			pLoop: capability.Execute, pHog: capability.Execute, pTrap: capability.Execute, pCopy: capability.Execute},
	}
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	ps := pastest.Start(t, pastest.Options{})
	w := &world{t: t, pas: ps, dev: ps.Device, issuer: newIssuer(t, ps.Device), ids: map[string]*identity.Identity{}, unix: o.unix, maxRuns: o.maxRuns, audit: o.auditBytes, server: o.server}
	w.misWasm = trucetest.BuildGo(t, "testdata/misbehave")
	for _, n := range []string{"paula", "alice", "bob", "rita", "mallory"} {
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.ids[n] = id
	}
	if o.expires.IsZero() {
		o.expires = time.Now().Add(24 * time.Hour).Truncate(time.Second)
	}
	type jp struct {
		Name         string                   `json:"name"`
		Cert         string                   `json:"cert"`
		Capabilities capability.Set           `json:"capabilities"`
		Budgets      map[string]policy.Budget `json:"budgets,omitempty"`
	}
	type jprog struct {
		Path         string         `json:"path"`
		SHA256       string         `json:"sha256"`
		Capabilities capability.Set `json:"capabilities"`
	}
	var prins []jp
	for _, n := range []string{"paula", "alice", "bob", "rita"} {
		caps := principalCaps()[n]
		for g, r := range o.caps[n] {
			caps[g] |= r
		}
		prins = append(prins, jp{n, string(w.ids[n].CertPEM()), caps, o.budgets[n]})
	}
	mis := hexSum(w.misWasm)
	progs := []jprog{
		{pShamir, hexSum(shamir.Wasm), capability.Set{"/input/": capability.Read, "/output/": capability.Write}},
		{pNeeds, hexSum(shamir.Wasm), capability.Set{"/input/shamir-0.dat": capability.Read, "/output/": capability.Write}},
		{pFail, mis, capability.Set{"/output/": capability.Write}},
		{pLoop, mis, capability.Set{}},
		{pHog, mis, capability.Set{}},
		{pTrap, mis, capability.Set{}},
		{pCopy, mis, capability.Set{"/output/": capability.Read | capability.Write}},
	}
	doc := map[string]any{
		"version": 1, "name": "runtime-test", "expires": o.expires.UTC().Format(time.RFC3339),
		"host": "127.0.0.1:3017",
		"attestation": map[string]any{
			"service": ps.URL, "ca_cert": string(ps.CAPEM()),
			"runtimes": []map[string]string{{"platform": "sim", "measurement": hex.EncodeToString(testMeasurement)}},
		},
		"principals": prins,
		"programs":   progs,
		"pipelines": []map[string]any{
			{"name": "combine-copy", "steps": []string{pShamir, pCopy}},
			{"name": "combine-fail", "steps": []string{pShamir, pFail, pCopy}},
		},
		"limits": map[string]int{"memory_mib": o.memoryMiB, "exec_seconds": o.execSeconds, "file_mib": o.fileMiB, "total_mib": o.totalMiB},
	}
	if o.holds != nil {
		doc["holds"] = o.holds
	}
	if o.lifecycle != nil {
		doc["lifecycle"] = o.lifecycle
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	w.pol, err = policy.Parse(cleanLimits(b), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// cleanLimits drops zero limits (the policy wants them left out).
func cleanLimits(b []byte) []byte {
	var doc map[string]any
	_ = json.Unmarshal(b, &doc)
	lim := doc["limits"].(map[string]any)
	for k, v := range lim {
		if v.(float64) == 0 {
			delete(lim, k)
		}
	}
	out, _ := json.MarshalIndent(doc, "", "  ")
	return out
}

var testMeasurement = bytes.Repeat([]byte{0x5a}, 32)

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func testProvider(w *world) attest.Provider { return simprovider.NewProvider(w.dev, testMeasurement) }

func (w *world) now() time.Time { return time.Now().Add(time.Duration(w.offset.Load())) }

// start makes the runtime and runs it on loopback TCP, with w as its host,
// through attestation to ready.
func (w *world) start() {
	t := w.t
	t.Helper()
	rt, err := New(Config{Policy: w.pol, Provider: testProvider(w), Engine: testEngine(t), Now: w.now, MaxRuns: w.maxRuns, AuditBytes: w.audit, Server: w.server})
	if err != nil {
		t.Fatal(err)
	}
	w.rt = rt
	spec := "tcp:127.0.0.1:0"
	if w.unix {
		spec = "unix:" + filepath.Join(t.TempDir(), "rt.sock")
	}
	ln, err := Listen(spec)
	if err != nil {
		t.Fatal(err)
	}
	w.network, w.addr = ln.Addr().Network(), ln.Addr().String()
	hostR, rtW := io.Pipe()
	rtR, hostW := io.Pipe()
	w.host = control.NewConn(hostR, hostW)
	w.hostW = hostW
	w.served = make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { w.served <- rt.Serve(ctx, control.NewConn(rtR, rtW), ln) }()
	t.Cleanup(func() {
		cancel()
		hostW.Close()
		hostR.Close()
		select {
		case <-w.served:
		case <-time.After(15 * time.Second):
			t.Error("runtime did not stop")
		}
	})
	hello := w.recv()
	if hello.Type != control.TypeHello || hello.Platform != "sim" || hello.PolicyHash != w.pol.HashHex() {
		t.Fatalf("hello = %+v", hello)
	}
	ready := w.attest()
	if ready.Type != control.TypeReady || ready.Listen != w.network+":"+w.addr {
		t.Fatalf("ready = %+v", ready)
	}
}

func (w *world) recv() control.Message {
	w.t.Helper()
	type res struct {
		m   control.Message
		err error
	}
	ch := make(chan res, 1)
	go func() { m, err := w.host.Receive(); ch <- res{m, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			w.t.Fatalf("control: %v", r.err)
		}
		return r.m
	case <-time.After(20 * time.Second):
		w.t.Fatal("no control message from the runtime")
	}
	return control.Message{}
}

func (w *world) send(m control.Message) {
	w.t.Helper()
	if err := w.host.Send(m); err != nil {
		w.t.Fatal(err)
	}
}

// attest runs one attest/evidence/certificate exchange, as the host does,
// and returns the runtime's answer to the certificate.
func (w *world) attest() control.Message {
	w.t.Helper()
	ctx := context.Background()
	pc := w.pas.Client()
	nonce, err := pc.Nonce(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	w.send(control.Message{Type: control.TypeAttest, Nonce: nonce})
	ev := w.recv()
	if ev.Type != control.TypeEvidence || ev.Platform != "sim" {
		w.t.Fatalf("evidence = %+v", ev)
	}
	certs, err := pc.Attest(ctx, paswire.AttestRequest{Platform: ev.Platform, Evidence: ev.Evidence, CSR: ev.CSR, Nonce: nonce, Policy: w.pol.Bytes()})
	if err != nil {
		w.t.Fatalf("attestation service: %v", err)
	}
	var chain [][]byte
	for _, c := range certs {
		chain = append(chain, c.Raw)
	}
	w.lastCert = chain[0]
	w.send(control.Message{Type: control.TypeCertificate, Chain: chain})
	return w.recv()
}

// client is a party talking to the enclave: it checks the enclave's chain
// against the policy (as client.Dial does) and presents its identity.
type client struct {
	w      *world
	t      testing.TB
	name   string
	hc     *http.Client
	leaves chan []byte // leaf certificates seen, for renewal tests
}

func (w *world) client(name string, h2 bool) *client {
	id := w.ids[name]
	c := &client{w: w, t: w.t, name: name, leaves: make(chan []byte, 64)}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{id.TLSCertificate()},
		InsecureSkipVerify: true, // replaced by the check below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			var chain []*x509.Certificate
			for _, d := range raw {
				cc, err := x509.ParseCertificate(d)
				if err != nil {
					return err
				}
				chain = append(chain, cc)
			}
			if _, err := attest.CheckEnclave(chain, w.pol, time.Now()); err != nil {
				return err
			}
			select {
			case c.leaves <- raw[0]:
			default:
			}
			return nil
		},
	}
	tr := &http.Transport{
		TLSClientConfig:   tc,
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, w.network, w.addr)
		},
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	c.hc = &http.Client{Transport: tr, Timeout: 60 * time.Second}
	w.t.Cleanup(tr.CloseIdleConnections)
	return c
}

type response struct {
	status  int
	body    []byte
	header  http.Header
	proto   int
	problem *api.Problem
}

func (c *client) do(method, path string, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "https://enclave"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &response{status: resp.StatusCode, body: b, header: resp.Header, proto: resp.ProtoMajor}
	if resp.Header.Get("Content-Type") == api.ContentTypeProblem {
		r.problem = new(api.Problem)
		if err := json.Unmarshal(b, r.problem); err != nil {
			return nil, fmt.Errorf("problem body: %w: %s", err, b)
		}
	}
	return r, nil
}

func (c *client) must(method, path string, body []byte, status int) *response {
	c.t.Helper()
	r, err := c.do(method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s %s: %v", c.name, method, path, err)
	}
	if r.status != status {
		c.t.Fatalf("%s %s %s: status %d, want %d: %s", c.name, method, path, r.status, status, r.body)
	}
	return r
}

// on returns the client reporting failures to t.
func (c *client) on(t testing.TB) *client {
	cp := *c
	cp.t = t
	return &cp
}

// refused checks a request is refused with the problem type given.
func (c *client) refused(method, path string, body []byte, status int, name string) *api.Problem {
	c.t.Helper()
	r := c.must(method, path, body, status)
	if r.problem == nil || r.problem.Name() != name || r.problem.Status != status {
		c.t.Fatalf("%s %s %s: problem %+v, want %s", c.name, method, path, r.problem, name)
	}
	if r.problem.Detail == "" || r.problem.Title == "" {
		c.t.Fatalf("problem without title or detail: %s", r.body)
	}
	return r.problem
}

func (c *client) put(gp string, body []byte, status int) api.FileResult {
	c.t.Helper()
	r := c.must(http.MethodPut, api.PathFiles+strings.TrimPrefix(gp, "/"), body, status)
	var fr api.FileResult
	if err := json.Unmarshal(r.body, &fr); err != nil {
		c.t.Fatal(err)
	}
	return fr
}

func (c *client) get(gp string) []byte {
	c.t.Helper()
	r := c.must(http.MethodGet, api.PathFiles+strings.TrimPrefix(gp, "/"), nil, http.StatusOK)
	if got := r.header.Get(api.HeaderSHA256); got != hexSum(r.body) {
		c.t.Fatalf("%s header %s, content hashes to %s", api.HeaderSHA256, got, hexSum(r.body))
	}
	if err := audit.Open(r.header.Get(api.HeaderCommitment), r.header.Get(api.HeaderSalt), bytes.NewReader(r.body)); err != nil {
		c.t.Fatalf("%s: %v", gp, err)
	}
	return r.body
}

// salt reads gp and returns the salt that opens its commitment.
func (c *client) salt(gp string) string {
	c.t.Helper()
	r := c.must(http.MethodGet, api.PathFiles+strings.TrimPrefix(gp, "/"), nil, http.StatusOK)
	return r.header.Get(api.HeaderSalt)
}

func (c *client) run(prog string, status int) *api.RunResult {
	c.t.Helper()
	r := c.must(http.MethodPost, api.PathRun+strings.TrimPrefix(prog, "/"), nil, status)
	if status == http.StatusOK {
		var rr api.RunResult
		if err := json.Unmarshal(r.body, &rr); err != nil {
			c.t.Fatal(err)
		}
		return &rr
	}
	if r.problem == nil || r.problem.Result == nil {
		c.t.Fatalf("run %s: status %d without a result: %s", prog, r.status, r.body)
	}
	return r.problem.Result
}

// snapshot returns every file's hash, to show a refusal changed nothing.
func (w *world) snapshot() map[string]string {
	out := map[string]string{}
	for _, fh := range w.rt.filesWith(capability.Set{"/": capability.All}, capability.Read) {
		o, err := w.rt.openFile(fh.Path)
		if err != nil {
			w.t.Fatal(err)
		}
		out[fh.Path] = o.sum
	}
	return out
}

func sameFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
