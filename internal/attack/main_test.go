package attack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/deployment/deploymenttest"
	"github.com/truce-project/truce/internal/trucetest"
	"github.com/truce-project/truce/policy"
)

// bin is the truce executable built for the suite; measurement is its
// SHA-256, what a sim policy pins.
var (
	truceBin    *deployment.Binary
	bin         string
	measurement []byte
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	root, err := deployment.ModuleRoot()
	if err == nil {
		truceBin, err = deployment.Build(context.Background(), root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin, measurement = truceBin.Path, truceBin.Measurement
	return m.Run()
}

// long skips t unless TRUCE_LONG=1: tests that wait for real timeouts.
func long(t *testing.T) {
	t.Helper()
	if os.Getenv("TRUCE_LONG") != "1" {
		t.Skip("waits for a real timeout; run with TRUCE_LONG=1")
	}
}

// startPAS starts an attestation service in a new directory, for t.
func startPAS(t testing.TB) *deployment.AttestationService {
	t.Helper()
	return deploymenttest.StartAttestationService(t, truceBin, deployment.AttestationServiceOptions{})
}

// Programs of the suite's policy: all the hostile guest under other names.
const (
	pCopy     = "/program/copy.wasm"
	pLoop     = "/program/loop.wasm"
	pHog      = "/program/hog.wasm"
	pSpew     = "/program/spew.wasm"
	pBigFile  = "/program/bigfile.wasm"
	pPointers = "/program/pointers.wasm"
	pEscape   = "/program/escape.wasm"
)

var programs = []string{pCopy, pLoop, pHog, pSpew, pBigFile, pPointers, pEscape}

// Limits of the suite's policy.
const (
	fileMiB  = 8
	totalMiB = 48
)

// guestProgram is a Go guest program of testdata, built once per run.
type guestProgram struct {
	dir  string
	once sync.Once
	wasm []byte
}

func (g *guestProgram) get(t testing.TB) []byte {
	g.once.Do(func() { g.wasm = trucetest.BuildGo(t, g.dir) })
	if g.wasm == nil {
		t.Fatalf("the guest of %s did not build", g.dir)
	}
	return g.wasm
}

var (
	hostileGuest  = &guestProgram{dir: "testdata/hostile"}
	guestmemGuest = &guestProgram{dir: "testdata/guestmem"}
	vfsGuestProg  = &guestProgram{dir: "testdata/vfsguest"}
)

// hostile is the hostile guest of testdata/hostile.
func hostile(t testing.TB) []byte { return hostileGuest.get(t) }

// world is a policy with its parties, and (once started) the PAS and the
// host serving it.
type world struct {
	dir     string
	ids     map[string]*identity.Identity
	pol     *policy.Policy
	polFile string
	ps      *deployment.AttestationService
	host    *deployment.Process
	addr    string
}

// worldOptions vary the policy.
type worldOptions struct {
	name string // policy name; empty means "attack"
	// extra adds capabilities to principals (an older, more generous
	// policy, say).
	extra map[string]map[string]string
	// tweak, if set, edits the policy document before it is written.
	tweak func(doc map[string]any)
}

// newWorld writes a policy for ps; the host address is picked free.
func newWorld(t testing.TB, ps *deployment.AttestationService, o worldOptions) *world {
	t.Helper()
	if o.name == "" {
		o.name = "attack"
	}
	w := &world{dir: t.TempDir(), ids: map[string]*identity.Identity{}, ps: ps, addr: deploymenttest.FreeAddr(t)}
	caps := map[string]map[string]string{
		"alice":   {"/input/alice.dat": "w", "/input/log.dat": "a"},
		"bob":     {"/input/bob.dat": "w"},
		"oscar":   {"/program/": "w"},
		"dave":    {"/program/": "x", "/output/": "r"},
		"mallory": {"/input/mallory/": "w"},
		"rita":    {"/": "r"},
	}
	for n, c := range o.extra {
		for p, r := range c {
			caps[n][p] = r
		}
	}
	var principals []any
	for _, n := range []string{"alice", "bob", "oscar", "dave", "mallory", "rita"} {
		id, err := identity.New(n, 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.ids[n] = id
		principals = append(principals, map[string]any{"name": n, "cert": string(id.CertPEM()), "capabilities": caps[n]})
	}
	sum := sha256.Sum256(hostile(t))
	h := hex.EncodeToString(sum[:])
	progCaps := map[string]map[string]string{
		pCopy:   {"/input/alice.dat": "r", "/output/": "w"},
		pEscape: {"/input/alice.dat": "r", "/output/escape/": "w"},
	}
	var progs []any
	for _, p := range programs {
		c, ok := progCaps[p]
		if !ok {
			c = map[string]string{"/output/" + strings.TrimSuffix(filepath.Base(p), ".wasm") + "/": "w"}
		}
		progs = append(progs, map[string]any{"path": p, "sha256": h, "capabilities": c})
	}
	// bigfile writes /output/big.dat.
	progs[4] = map[string]any{"path": pBigFile, "sha256": h, "capabilities": map[string]string{"/output/big.dat": "w"}}
	doc := map[string]any{
		"version": 1, "name": o.name, "expires": time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339),
		"host": w.addr,
		"attestation": map[string]any{"service": ps.URL, "ca_cert": string(ps.CACert),
			"runtimes": []any{map[string]string{"platform": "sim", "measurement": hex.EncodeToString(measurement)}}},
		"principals": principals,
		"programs":   progs,
		"limits":     map[string]any{"memory_mib": 64, "exec_seconds": 3, "file_mib": fileMiB, "total_mib": totalMiB},
	}
	if o.tweak != nil {
		o.tweak(doc)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if w.pol, err = policy.Parse(b, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.polFile = filepath.Join(w.dir, "policy.json")
	if err := os.WriteFile(w.polFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// serve starts "truce host serve" for the world and waits until its
// enclave is ready.
func (w *world) serve(t testing.TB, extra ...string) {
	t.Helper()
	w.host = deploymenttest.StartHost(t, truceBin, w.ps, deployment.HostOptions{Listen: w.addr, Policies: []string{w.polFile},
		Flags: extra, Ready: 90 * time.Second}).Process
}

// startWorld starts a PAS, a policy and a host serving it.
func startWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	w := newWorld(t, startPAS(t), o)
	w.serve(t)
	return w
}

// dial opens an SDK session as principal n.
func (w *world) dial(t testing.TB, n string, opts ...client.Option) *client.Session {
	t.Helper()
	s, err := client.Dial(context.Background(), w.pol, w.ids[n], append([]client.Option{client.WithAddr(w.addr)}, opts...)...)
	if err != nil {
		t.Fatalf("%s dialing: %v", n, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (w *world) put(t testing.TB, n, path string, data []byte) {
	t.Helper()
	if _, err := w.dial(t, n).Put(context.Background(), path, bytes.NewReader(data)); err != nil {
		t.Fatalf("%s writing %s: %v", n, path, err)
	}
}

// uploadPrograms has oscar upload every program.
func (w *world) uploadPrograms(t testing.TB) {
	t.Helper()
	s := w.dial(t, "oscar")
	for _, p := range programs {
		if _, err := s.Put(context.Background(), p, bytes.NewReader(hostile(t))); err != nil {
			t.Fatalf("uploading %s: %v", p, err)
		}
	}
}

// watched are the files a snapshot reads.
var watched = []string{"/input/alice.dat", "/input/bob.dat", "/input/log.dat", "/input/mallory/x",
	"/output/copy.dat", "/output/big.dat", "/output/escape/ok.dat", "/program/new.wasm", "/new.dat", "/input/new.dat"}

// snapshot reads, as rita, the SHA-256 of every watched file; it fails
// the test if the runtime does not answer.
func (w *world) snapshot(t testing.TB) map[string]string {
	t.Helper()
	rita := w.dial(t, "rita")
	m := map[string]string{}
	for _, p := range watched {
		h := sha256.New()
		_, err := rita.Get(context.Background(), p, h)
		switch {
		case errors.Is(err, client.ErrNotFound):
			m[p] = "(absent)"
		case err != nil:
			t.Fatalf("rita reading %s: %v", p, err)
		default:
			m[p] = hex.EncodeToString(h.Sum(nil))
		}
	}
	return m
}

// unchanged checks the runtime still serves and every watched file is as
// in before.
func (w *world) unchanged(t testing.TB, before map[string]string) {
	t.Helper()
	after := w.snapshot(t)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s changed: %s → %s", p, v, after[p])
		}
	}
}

// tlsConfig is an attested client TLS configuration for principal n: the
// enclave's chain is checked against the policy as the SDK does.
func (w *world) tlsConfig(n string) *tls.Config {
	id := w.ids[n]
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         w.pol.ServerName(),
		Certificates:       []tls.Certificate{{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}},
		InsecureSkipVerify: true, // replaced by VerifyConnection
		NextProtos:         []string{"http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := attest.CheckEnclave(cs.PeerCertificates, w.pol, time.Now())
			return err
		},
	}
}

// rawConn opens an attested TLS connection as n, for hand-written HTTP.
func (w *world) rawConn(t testing.TB, n string) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.addr, w.tlsConfig(n))
	if err != nil {
		t.Fatalf("TLS to the enclave as %s: %v", n, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpClient is a plain net/http client over attested TLS as n, for
// requests the SDK would not send.
func (w *world) httpClient(n string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: w.tlsConfig(n)}
			return d.DialContext(ctx, "tcp", w.addr)
		},
	}}
}

// base is the URL prefix of the enclave's API.
func (w *world) base() string { return "https://" + w.pol.ServerName() }

// readAll reads a response body, bounded.
func readAll(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 1<<20))
	return string(b)
}

// procStatus reads a field of /proc/PID/status in bytes (VmRSS, VmHWM).
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			k, _ := strconv.ParseInt(f[1], 10, 64)
			return k << 10
		}
	}
	return -1
}

// rss returns a process's resident memory from /proc, in bytes (-1 if
// unknown).
func rss(pid int) int64 { return procStatus(pid, "VmRSS") }

// procMem is procStatus for a process that must be there.
func procMem(t testing.TB, pid int, field string) int64 {
	t.Helper()
	v := procStatus(pid, field)
	if v < 0 {
		t.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	return v
}

// runtimePID is the process id of the world's runtime (the host's child).
func (w *world) runtimePID(t testing.TB) int {
	t.Helper()
	for _, pid := range w.host.Children() {
		b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if bytes.Contains(b, []byte("runtime")) {
			return pid
		}
	}
	t.Fatal("no runtime process under the host")
	return 0
}
