package runtime

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/shamir"
	"github.com/truce-project/truce/internal/control"
)

func TestControlProtocol(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	first := w.lastCert
	rita := w.client("rita", true)
	rita.must(http.MethodGet, api.PathPolicy, nil, 200)
	if got := <-rita.leaves; !bytes.Equal(got, first) {
		t.Fatal("served another certificate than the one issued")
	}

	// Garbage, unknown types and a certificate without attestation are
	// answered with error, and the runtime keeps going.
	if _, err := w.hostW.Write([]byte("{not json\n")); err != nil {
		t.Fatal(err)
	}
	if m := w.recv(); m.Type != control.TypeError || !strings.Contains(m.Message, "malformed") {
		t.Fatalf("after garbage: %+v", m)
	}
	w.send(control.Message{Type: "dance"})
	if m := w.recv(); m.Type != control.TypeError || !strings.Contains(m.Message, "dance") {
		t.Fatalf("after an unknown type: %+v", m)
	}
	w.send(control.Message{Type: control.TypeCertificate, Chain: [][]byte{first}})
	if m := w.recv(); m.Type != control.TypeError {
		t.Fatalf("certificate without attest: %+v", m)
	}
	w.send(control.Message{Type: control.TypeAttest})
	if m := w.recv(); m.Type != control.TypeError || !strings.Contains(m.Message, "nonce") {
		t.Fatalf("attest without nonce: %+v", m)
	}

	// A chain for another key, or from another CA, is refused; the old
	// certificate stays in use.
	w.send(control.Message{Type: control.TypeAttest, Nonce: []byte("n-bad")})
	ev := w.recv()
	otherChain, err := w.issuer.issue(w.pol, ev.Evidence, ev.CSR, []byte("n-bad"))
	if err != nil {
		t.Fatal(err)
	}
	w.send(control.Message{Type: control.TypeCertificate, Chain: otherChain})
	if m := w.recv(); m.Type != control.TypeError || !strings.Contains(m.Message, "refused") ||
		m.Verdict == nil || m.Verdict.Rule != attest.RuleChain || m.Verdict.Expected == "" {
		t.Fatalf("chain from another CA: %+v (verdict %+v)", m, m.Verdict)
	}
	w.send(control.Message{Type: control.TypeCertificate, Chain: [][]byte{w.issuer.cert.Raw}})
	if m := w.recv(); m.Type != control.TypeError || !strings.Contains(m.Message, "not for this enclave") {
		t.Fatalf("chain for another key: %+v", m)
	}
	rita2 := w.client("rita", true)
	rita2.must(http.MethodGet, api.PathPolicy, nil, 200)
	if got := <-rita2.leaves; !bytes.Equal(got, first) {
		t.Fatal("a refused chain replaced the certificate")
	}

	// Renewal: a new attest gives a new certificate for the same key,
	// used by new connections; files survive.
	w.client("paula", true).put(pShamir, shamir.Wasm, http.StatusCreated)
	if m := w.attest(); m.Type != control.TypeReady || m.Listen != "tcp:"+w.addr {
		t.Fatalf("renewal: %+v", m)
	}
	renewed := w.lastCert
	if bytes.Equal(renewed, first) {
		t.Fatal("the issuer gave the same certificate")
	}
	rita3 := w.client("rita", true)
	rita3.must(http.MethodGet, api.PathPolicy, nil, 200)
	got := <-rita3.leaves
	if !bytes.Equal(got, renewed) {
		t.Fatal("renewed certificate not served")
	}
	c1, _ := x509.ParseCertificate(first)
	c2, _ := x509.ParseCertificate(renewed)
	if !c1.PublicKey.(*ecdsa.PublicKey).Equal(c2.PublicKey) {
		t.Fatal("renewal changed the enclave key")
	}
	if _, ok := w.snapshot()[pShamir]; !ok {
		t.Fatal("renewal lost files")
	}

	// Shutdown: a principal with x asks; the runtime answers, wipes its
	// state, tells the host and returns nil.
	rita3.must(http.MethodPost, api.PathShutdown, nil, http.StatusAccepted)
	if m := w.recv(); m.Type != control.TypeStopped {
		t.Fatalf("after shutdown: %+v", m)
	}
	select {
	case err := <-w.served:
		if err != nil {
			t.Fatalf("Serve after shutdown: %v", err)
		}
		w.served <- nil // for the cleanup
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	if len(w.rt.fs.Files()) != 0 || w.rt.Certified() || w.rt.key.Load() != nil {
		t.Fatal("state not wiped")
	}
	if entries, _ := w.rt.audit.Entries(); len(entries) != 0 {
		t.Fatal("audit log not wiped")
	}
	if _, err := w.client("rita", true).do(http.MethodGet, api.PathPolicy, nil); err == nil {
		t.Fatal("served after shutdown")
	}
}

func TestHostGone(t *testing.T) {
	w := newWorld(t, worldOptions{unix: true})
	w.start()
	w.client("paula", true).put(pShamir, shamir.Wasm, http.StatusCreated)
	w.hostW.Close()
	select {
	case err := <-w.served:
		if !errors.Is(err, ErrHostGone) {
			t.Fatalf("Serve = %v, want ErrHostGone", err)
		}
		w.served <- err
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return when the host went away")
	}
	if len(w.rt.fs.Files()) != 0 {
		t.Fatal("state not wiped")
	}
}

func TestListen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "rt.sock")
	ln, err := Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	if ListenSpec(ln) != "unix:"+sock {
		t.Fatalf("spec = %s", ListenSpec(ln))
	}
	ln.Close()
	for _, bad := range []string{"", "unix:", "udp:1.2.3.4:5", "127.0.0.1:0", "tcp:nonsense"} {
		if ln, err := Listen(bad); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) succeeded", bad)
		}
	}
}

func TestGuestPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/v1/files/input/a.dat", "/input/a.dat"},
		{"/v1/files/a", "/a"},
		{"/v1/files/", ""},
		{"/v1/files/input/", ""},
		{"/v1/files/input/../x", ""},
		{"/v1/files/./x", ""},
		{"/v1/files//x", ""},
		{"/v1/files/x\x00", ""},
		{"/v1/run/x", ""},
	} {
		got, err := GuestPath(tc.in, api.PathFiles)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("GuestPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func FuzzGuestPath(f *testing.F) {
	for _, s := range []string{"/v1/files/input/a", "/v1/files/../../etc/passwd", "/v1/files/a//b", "/v1/files/a/./b/", "/v1/files/\x00", "/v1/files/" + strings.Repeat("a/", 3000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		gp, err := GuestPath(p, api.PathFiles)
		if err != nil {
			return
		}
		if capability.CheckPath(gp) != nil || strings.HasSuffix(gp, "/") || strings.Contains(gp, "/../") || strings.HasSuffix(gp, "/..") {
			t.Fatalf("GuestPath(%q) = %q, not a clean file path", p, gp)
		}
		if "/v1/files"+gp != p {
			t.Fatalf("GuestPath(%q) = %q, not the path asked for", p, gp)
		}
	})
}

// FuzzHandler drives the API handler with arbitrary methods, paths and
// bodies from an authenticated principal: it must never panic, always
// answer with a known status, and never give alice more than her rights.
func FuzzHandler(f *testing.F) {
	w := newWorld(f, worldOptions{fileMiB: 4})
	rt, err := New(Config{Policy: w.pol, Provider: testProvider(w), Engine: testEngine(f)})
	if err != nil {
		f.Fatal(err)
	}
	if err := rt.admin.MkdirAll("/output"); err != nil {
		f.Fatal(err)
	}
	if _, err := rt.admin.WriteFile("/output/secret.dat", strings.NewReader("secret")); err != nil {
		f.Fatal(err)
	}
	h := rt.Handler()
	state := &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, PeerCertificates: []*x509.Certificate{w.ids["alice"].Cert}}
	for _, s := range []struct{ m, p string }{
		{"PUT", "/v1/files/input/shamir-0.dat"}, {"PUT", "/v1/files/output/secret.dat"}, {"GET", "/v1/files/output/secret.dat"},
		{"POST", "/v1/run/program/shamir.wasm"}, {"POST", "/v1/pipelines/combine-copy"}, {"GET", "/v1/audit"}, {"GET", "/v1/receipts"},
		{"POST", "/v1/shutdown"}, {"GET", "/v1/files/input/%2e%2e/output/secret.dat"}, {"HEAD", "/v1/policy"},
		{"GET", "/v1/policy/chain"}, {"POST", "/v1/policy/successor"}, {"POST", "/v1/release/output/secret.dat"},
	} {
		f.Add(s.m, s.p, []byte("body"))
	}
	allowed := map[int]bool{200: true, 201: true, 400: true, 403: true, 404: true, 405: true, 409: true, 413: true}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		req, err := http.NewRequest(method, "https://enclave/", bytes.NewReader(body))
		if err != nil {
			return
		}
		req.URL.Path = path
		req.TLS = state
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("%s %q: status %d: %s", method, path, rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String(), "secret") && rec.Code == 200 && method != "HEAD" && !strings.Contains(path, "audit") {
			t.Fatalf("%s %q leaked a file alice may not read: %s", method, path, rec.Body)
		}
		snap, err := rt.admin.Open("/output/secret.dat")
		if err != nil || snap.Size() != int64(len("secret")) {
			t.Fatalf("%s %q changed a file alice may not write", method, path)
		}
	})
}

// FuzzCertificateMessage feeds arbitrary control lines, as the host could
// send them, to the certificate path: decoding and SetCertificate must
// never panic, and only a chain for the enclave key that checks against the
// policy may be installed.
func FuzzCertificateMessage(f *testing.F) {
	w := newWorld(f, worldOptions{})
	w.start()
	good, err := json.Marshal(control.Message{Type: control.TypeCertificate, Chain: [][]byte{w.lastCert, w.pas.CA().Raw}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"type":"certificate","chain":["AAAA"]}`))
	f.Add([]byte(`{"type":"certificate","chain":[]}`))
	f.Add([]byte(`{"type":"certificate","chain":null,"nonce":"AA=="}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := control.Decode(line)
		if err != nil {
			return
		}
		if _, _, err := w.rt.Attest(context.Background(), []byte("fuzz nonce")); err != nil {
			t.Fatal(err)
		}
		before := w.rt.cert.Load()
		if _, err := w.rt.SetCertificate(m.Chain); err != nil {
			if w.rt.cert.Load() != before {
				t.Fatal("a refused chain replaced the certificate")
			}
			return
		}
		if len(m.Chain) == 0 || !bytes.Equal(m.Chain[0], w.lastCert) {
			t.Fatalf("installed a chain the attestation service did not issue: %q", line)
		}
	})
}
