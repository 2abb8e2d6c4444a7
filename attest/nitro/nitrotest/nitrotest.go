// Package nitrotest is a fake Nitro Secure Module for tests: it decodes the
// requests a Provider sends, records them, and answers with attestation
// documents shaped as the real module's, signed by a test certificate chain
// (root → intermediate → leaf, all ECDSA P-384) that only its Roots trust.
//
// What it makes are test fixtures, never evidence: nothing it signs chains
// to the AWS root, and it must never be used outside tests.
package nitrotest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Payload is an attestation document's payload, as the NSM encodes it.
type Payload struct {
	ModuleID    string          `cbor:"module_id"`
	Digest      string          `cbor:"digest"`
	Timestamp   uint64          `cbor:"timestamp"`
	PCRs        map[uint][]byte `cbor:"pcrs"`
	Certificate []byte          `cbor:"certificate"`
	CABundle    [][]byte        `cbor:"cabundle"`
	PublicKey   []byte          `cbor:"public_key"`
	UserData    []byte          `cbor:"user_data"`
	Nonce       []byte          `cbor:"nonce"`
}

// CA is a certificate and its key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// NSM is the fake module. Create it with New.
type NSM struct {
	Root, Intermediate, Leaf CA
	// PCRs reported; New sets PCR0–2 to test values and PCR3, 4, 8 to zero.
	PCRs map[uint][]byte
	// Now is the document timestamp; New sets a clock inside the chain's validity.
	Now func() time.Time
	// Fail, if not empty, is the error code every request is answered with.
	Fail string

	mu       sync.Mutex
	requests [][]byte
}

// Epoch is the time the test chain is valid around (one day either side for
// the leaf, a year for the CAs).
var Epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// New makes a fake NSM with a fresh test chain valid around Epoch.
func New() (*NSM, error) { return NewAt(Epoch) }

// NewAt makes a fake NSM whose chain is valid around at (the leaf a day
// either side, the CAs a year) and whose documents are stamped at.
func NewAt(at time.Time) (*NSM, error) {
	root, err := NewCA(nil, "truce test nitro root", at.AddDate(-1, 0, 0), at.AddDate(1, 0, 0), true)
	if err != nil {
		return nil, err
	}
	inter, err := NewCA(&root, "truce test nitro intermediate", at.AddDate(-1, 0, 0), at.AddDate(1, 0, 0), true)
	if err != nil {
		return nil, err
	}
	leaf, err := NewCA(&inter, "truce test nitro enclave", at.Add(-24*time.Hour), at.Add(24*time.Hour), false)
	if err != nil {
		return nil, err
	}
	pcrs := map[uint][]byte{}
	for i := uint(0); i < 16; i++ {
		pcrs[i] = make([]byte, 48)
	}
	for i, name := range []string{"image", "kernel", "application"} {
		h := sha512.Sum384([]byte("truce test enclave " + name))
		pcrs[uint(i)] = h[:]
	}
	return &NSM{Root: root, Intermediate: inter, Leaf: leaf, PCRs: pcrs, Now: func() time.Time { return at }}, nil
}

// NewCA makes a P-384 certificate issued by parent (nil: self-signed).
func NewCA(parent *CA, cn string, notBefore, notAfter time.Time, isCA bool) (CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return CA{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		return CA{}, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return CA{}, err
	}
	return CA{Cert: c, Key: key}, nil
}

// Roots is a pool holding only the fake root.
func (n *NSM) Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(n.Root.Cert)
	return p
}

// Requests returns the raw requests received so far.
func (n *NSM) Requests() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([][]byte(nil), n.requests...)
}

// Payload returns the payload the fake would sign for the given fields.
func (n *NSM) Payload(userData, nonce, publicKey []byte) Payload {
	pcrs := make(map[uint][]byte, len(n.PCRs))
	for i, v := range n.PCRs {
		pcrs[i] = append([]byte(nil), v...)
	}
	return Payload{
		ModuleID: "i-0123456789abcdef0-enc0123456789abcdef", Digest: "SHA384",
		Timestamp: uint64(n.Now().UnixMilli()), PCRs: pcrs,
		Certificate: n.Leaf.Cert.Raw,
		CABundle:    [][]byte{n.Root.Cert.Raw, n.Intermediate.Cert.Raw},
		PublicKey:   publicKey, UserData: userData, Nonce: nonce,
	}
}

// Sign encodes p and signs it as the NSM does: an untagged COSE_Sign1 with
// protected header {1: -35} (ES384), signed by key (nil: the leaf key).
func (n *NSM) Sign(p any, key *ecdsa.PrivateKey) ([]byte, error) {
	if key == nil {
		key = n.Leaf.Key
	}
	body, err := cbor.Marshal(p)
	if err != nil {
		return nil, err
	}
	return SignRaw(body, key)
}

// SignRaw signs an already encoded payload.
func SignRaw(body []byte, key *ecdsa.PrivateKey) ([]byte, error) {
	prot, _ := cbor.Marshal(map[int]int{1: -35})
	tbs, err := cbor.Marshal([]any{"Signature1", prot, []byte{}, body})
	if err != nil {
		return nil, err
	}
	h := sha512.Sum384(tbs)
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 96)
	r.FillBytes(sig[:48])
	s.FillBytes(sig[48:])
	return cbor.Marshal([]any{prot, map[any]any{}, body, sig})
}

type request struct {
	UserData  []byte `cbor:"user_data"`
	Nonce     []byte `cbor:"nonce"`
	PublicKey []byte `cbor:"public_key"`
}

var strict, _ = cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, ExtraReturnErrors: cbor.ExtraDecErrorUnknownField}.DecMode()

// Exchange answers one request as the NSM would: {"Attestation":
// {"document": …}} for a well-formed attestation request, {"Error":
// "InvalidArgument"} for anything else.
func (n *NSM) Exchange(req []byte) ([]byte, error) {
	n.mu.Lock()
	n.requests = append(n.requests, append([]byte(nil), req...))
	n.mu.Unlock()
	if n.Fail != "" {
		return cbor.Marshal(map[string]string{"Error": n.Fail})
	}
	var m map[string]request
	if err := strict.Unmarshal(req, &m); err != nil || len(m) != 1 {
		return cbor.Marshal(map[string]string{"Error": "InvalidArgument"})
	}
	a, ok := m["Attestation"]
	if !ok {
		return cbor.Marshal(map[string]string{"Error": "InvalidOperation"})
	}
	if len(a.UserData) > 512 || len(a.Nonce) > 512 || len(a.PublicKey) > 1024 {
		return cbor.Marshal(map[string]string{"Error": "InputTooLarge"})
	}
	doc, err := n.Sign(n.Payload(a.UserData, a.Nonce, a.PublicKey), nil)
	if err != nil {
		return nil, fmt.Errorf("nitrotest: signing: %w", err)
	}
	return cbor.Marshal(map[string]map[string][]byte{"Attestation": {"document": doc}})
}

// ErrClosed is what a Closed device returns.
var ErrClosed = errors.New("nitrotest: device closed")

// Closed is a device whose every exchange fails, as when the driver errs.
type Closed struct{}

// Exchange fails with ErrClosed.
func (Closed) Exchange([]byte) ([]byte, error) { return nil, ErrClosed }
