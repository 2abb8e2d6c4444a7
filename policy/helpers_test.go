package policy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/identity"
)

// testNow is the time every test parses at.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	alicePEM, bobPEM, carolPEM string
	aliceDER                   []byte
	caPEM                      string
	expiredPEM                 string // a client certificate that expired before testNow
	serverOnlyPEM              string // a certificate for TLS servers only
	nonCAPEM                   string // a certificate that is not a CA
	spacedPEM                  string // a client certificate whose CN is no principal name
}

var (
	fixOnce sync.Once
	fix     fixture
)

func idPEM(t testing.TB, name string, validFor time.Duration, now time.Time) (string, []byte) {
	t.Helper()
	id, err := identity.New(name, validFor, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(id.CertPEM()), id.Cert.Raw
}

func makeCert(t testing.TB, tmpl *x509.Certificate) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(7)
	tmpl.NotBefore = testNow.Add(-time.Hour)
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = testNow.Add(10 * 365 * 24 * time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func fixtures(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() {
		year := 365 * 24 * time.Hour
		fix.alicePEM, fix.aliceDER = idPEM(t, "alice", 5*year, testNow)
		fix.bobPEM, _ = idPEM(t, "bob", 5*year, testNow)
		fix.carolPEM, _ = idPEM(t, "carol", 5*year, testNow)
		fix.expiredPEM, _ = idPEM(t, "old", time.Hour, testNow.Add(-48*time.Hour))
		fix.caPEM = makeCert(t, &x509.Certificate{
			Subject: pkix.Name{CommonName: "test PAS CA"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		})
		fix.serverOnlyPEM = makeCert(t, &x509.Certificate{
			Subject: pkix.Name{CommonName: "server"}, KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		fix.spacedPEM = makeCert(t, &x509.Certificate{
			Subject: pkix.Name{CommonName: "Alice Smith"}, KeyUsage: x509.KeyUsageDigitalSignature,
		})
		fix.nonCAPEM = makeCert(t, &x509.Certificate{
			Subject: pkix.Name{CommonName: "leaf"}, KeyUsage: x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
		})
	})
	return &fix
}

var (
	simMeasurement = strings.Repeat("ab", 32)
	progHash       = strings.Repeat("01", 32)
	prog2Hash      = strings.Repeat("02", 32)
)

// validPolicy returns a policy that passes every rule at testNow.
func validPolicy(t testing.TB) *Policy {
	f := fixtures(t)
	return &Policy{
		Version: 1,
		Name:    "shamir-demo",
		Expires: testNow.Add(30 * 24 * time.Hour),
		Host:    "127.0.0.1:3017",
		Attestation: Attestation{
			Service:  "https://127.0.0.1:3010",
			CACert:   f.caPEM,
			Runtimes: []Runtime{{Platform: "sim", Measurement: simMeasurement}},
		},
		Principals: []Principal{
			{Name: "alice", Cert: f.alicePEM, Capabilities: capability.Set{"/input/alice/": capability.Write}},
			{Name: "bob", Cert: f.bobPEM, Capabilities: capability.Set{
				"/program/shamir.wasm": capability.Execute, "/output/": capability.Read,
			}},
		},
		Programs: []Program{{
			Path: "/program/shamir.wasm", SHA256: progHash,
			Capabilities: capability.Set{"/input/": capability.Read, "/output/": capability.Write},
		}},
		Limits: Limits{},
	}
}

func encode(t testing.TB, p *Policy) []byte {
	t.Helper()
	b, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, data []byte) *Policy {
	t.Helper()
	p, err := Parse(data, testNow)
	if err != nil {
		t.Fatalf("valid policy refused: %v\n%s", err, data)
	}
	return p
}

func hexOf(n int, b byte) string {
	return hex.EncodeToString([]byte(strings.Repeat(string([]byte{b}), n)))
}
