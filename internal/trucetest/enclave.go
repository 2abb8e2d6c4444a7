package trucetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/policy"
)

// World is a test policy with everything around it: a throwaway PAS CA,
// the identities of its principals and the measurement it trusts.
type World struct {
	CA          *attesttest.CA
	Measurement []byte
	Policy      *policy.Policy
	IDs         map[string]*identity.Identity
}

// WorldOptions describe a World. Zero fields get defaults: host
// 127.0.0.1:3017, one principal "alice" with rwa on /, expiry in a day.
type WorldOptions struct {
	Host    string
	Expires time.Time
	// Principals maps names to capabilities (path → rights letters).
	Principals map[string]map[string]string
	// Programs maps program paths to their bytes; each gets r on /input/
	// and w on /output/.
	Programs map[string][]byte
	// Lifecycle, when set, is the policy's lifecycle (such as a quorum).
	Lifecycle *policy.Lifecycle
}

// NewWorld makes a World; it fails the test if the policy is invalid.
func NewWorld(t testing.TB, o WorldOptions) *World {
	t.Helper()
	if o.Host == "" {
		o.Host = "127.0.0.1:3017"
	}
	if o.Expires.IsZero() {
		o.Expires = time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	}
	if o.Principals == nil {
		o.Principals = map[string]map[string]string{"alice": {"/": "rwa"}}
	}
	w := &World{CA: attesttest.NewCA(t), IDs: map[string]*identity.Identity{}}
	m := make([]byte, 32)
	rand.Read(m)
	w.Measurement = m
	doc := &policy.Policy{
		Version: policy.Version, Name: "test-world", Expires: o.Expires.Truncate(time.Second), Host: o.Host,
		Attestation: policy.Attestation{Service: "https://127.0.0.1:3010", CACert: string(w.CA.PEM()),
			Runtimes: []policy.Runtime{{Platform: "sim", Measurement: hex.EncodeToString(m)}}},
		Lifecycle: o.Lifecycle,
	}
	for name, caps := range o.Principals {
		id, err := identity.New(name, 0, time.Time{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.IDs[name] = id
		set := capability.Set{}
		for path, letters := range caps {
			r, err := capability.ParseRights(letters)
			if err != nil {
				t.Fatalf("trucetest: principal %s, %s: %v", name, path, err)
			}
			set[path] = r
		}
		doc.Principals = append(doc.Principals, policy.Principal{Name: name, Cert: string(id.CertPEM()), Capabilities: set})
	}
	for p, b := range o.Programs {
		doc.Programs = append(doc.Programs, policy.Program{Path: p, SHA256: hex.EncodeToString(sha256Sum(b)),
			Capabilities: capability.Set{"/input/": capability.Read, "/output/": capability.Write}})
	}
	b, err := policy.Encode(doc)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse(b, time.Time{})
	if err != nil {
		t.Fatalf("trucetest made an invalid policy: %v", err)
	}
	w.Policy = p
	return w
}

// Issue certifies pub as an enclave running w.Policy on the simulated
// platform with measurement m (w.Measurement if nil), valid until notAfter
// (capped by the CA), for the server names given. It returns the chain,
// leaf first.
func (w *World) Issue(t testing.TB, pub *ecdsa.PublicKey, m []byte, notAfter time.Time, names ...string) []*x509.Certificate {
	t.Helper()
	if m == nil {
		m = w.Measurement
	}
	if na := w.CA.Cert.NotAfter; notAfter.After(na) {
		notAfter = na
	}
	ext, err := attest.Identity{Platform: "sim", Measurement: m, PolicyHash: w.Policy.Hash(), Simulated: true}.Extension()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "test enclave"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		ExtraExtensions: []pkix.Extension{ext}, DNSNames: names, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, w.CA.Cert, pub, w.CA.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{leaf, w.CA.Cert}
}

// FakeEnclave is a TLS server standing in for an enclave: it presents a
// certificate issued by the World's CA and requires a client certificate
// of a principal of the policy. It runs no programs: the handler decides.
type FakeEnclave struct {
	Addr string
	// Chain is the certificate chain it presents, leaf first.
	Chain []*x509.Certificate
	// Requests counts requests that reached the handler.
	Requests atomic.Int64
	ln       net.Listener
	srv      *http.Server
}

// ServeFakeEnclave serves h on a loopback port as an enclave whose
// certificate claims measurement m (w.Measurement if nil). It stops at the
// end of the test.
func (w *World) ServeFakeEnclave(t testing.TB, m []byte, h http.Handler) *FakeEnclave {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chain := w.Issue(t, &key.PublicKey, m, time.Now().Add(time.Hour))
	cert := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	pol := w.Policy
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || pol.PrincipalByCert(raw[0]) == nil {
				return errNotPrincipal
			}
			return nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fe := &FakeEnclave{Addr: ln.Addr().String(), Chain: chain, ln: ln}
	fe.srv = &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fe.Requests.Add(1)
		h.ServeHTTP(rw, r)
	}), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go fe.srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { fe.srv.Close() })
	return fe
}

type testError string

func (e testError) Error() string { return string(e) }

const errNotPrincipal = testError("client certificate is not a principal of the policy")

func sha256Sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
