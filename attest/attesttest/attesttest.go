// Package attesttest helps tests that need a PAS-like CA and a valid policy
// pinning it: it makes throwaway CAs and policies, nothing more.
//
// It is for tests only and must never be used to make keys or policies
// anyone relies on: its keys live in memory and its policies grant
// whatever the test asks.
package attesttest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/policy"
)

// CA is a throwaway certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NewCA makes a self-signed P-256 CA valid for a day around now.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test PAS CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: c, Key: key}
}

// PEM returns the CA certificate as PEM.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// Runtime is one trusted runtime of a test policy.
type Runtime struct {
	Platform    string
	Measurement []byte
}

// PolicyOptions describe a test policy. Zero fields get defaults: host
// 127.0.0.1:3017, service https://127.0.0.1:3010, expiry a day from now,
// one principal "alice" who may write /input/.
type PolicyOptions struct {
	CACertPEM []byte
	Runtimes  []Runtime
	Host      string
	Service   string
	Expires   time.Time
	Name      string
	// MinimumTCB and Revoked go to attestation.minimum_tcb and
	// attestation.revoked; nil leaves them out.
	MinimumTCB map[string]policy.TCB
	Revoked    []policy.Revocation
}

// PolicyBytes returns the JSON of a valid policy; it fails the test if
// policy.Parse refuses it.
func PolicyBytes(t testing.TB, o PolicyOptions) []byte {
	t.Helper()
	if o.Host == "" {
		o.Host = "127.0.0.1:3017"
	}
	if o.Service == "" {
		o.Service = "https://127.0.0.1:3010"
	}
	if o.Expires.IsZero() {
		o.Expires = time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	}
	if o.Name == "" {
		o.Name = "test"
	}
	alice, err := identity.New("alice", 0, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type rt struct {
		Platform    string `json:"platform"`
		Measurement string `json:"measurement"`
	}
	var rts []rt
	for _, r := range o.Runtimes {
		rts = append(rts, rt{r.Platform, hex.EncodeToString(r.Measurement)})
	}
	att := map[string]any{"service": o.Service, "ca_cert": string(o.CACertPEM), "runtimes": rts}
	if o.MinimumTCB != nil {
		att["minimum_tcb"] = o.MinimumTCB
	}
	if o.Revoked != nil {
		att["revoked"] = o.Revoked
	}
	doc := map[string]any{
		"version":     1,
		"name":        o.Name,
		"expires":     o.Expires.Format(time.RFC3339),
		"host":        o.Host,
		"attestation": att,
		"principals": []any{map[string]any{
			"name": "alice", "cert": string(alice.CertPEM()),
			"capabilities": map[string]string{"/input/": "w"},
		}},
		"programs": []any{},
		"limits":   map[string]any{},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Parse(b, time.Time{}); err != nil {
		t.Fatalf("attesttest made an invalid policy: %v", err)
	}
	return b
}

// Policy returns PolicyBytes parsed.
func Policy(t testing.TB, o PolicyOptions) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(PolicyBytes(t, o), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
