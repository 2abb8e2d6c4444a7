// Package sgxtest makes DCAP quotes v3 for tests: a test Intel-like root,
// PCK intermediate and PCK leaf (P-256, the leaf carrying the SGX extension
// of a real PCK certificate, so its FMSPC and TCB parse), a quoting-enclave
// report signed by the leaf that binds a fresh attestation key, and an
// enclave report with the fields a test chooses, signed by that key. It
// also makes CRLs and a fake Gramine /dev/attestation.
//
// What it makes are test fixtures, never evidence: nothing chains to
// Intel's root, and it must never be used outside tests.
package sgxtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"sync"
	"time"
)

// Epoch is the time the test chain is valid around (a year either side).
var Epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// CA is a certificate and its key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Platform is a test platform: its chain and the QE report it quotes with.
type Platform struct {
	Root, PCKCA, PCK CA
	// QEReport is the 384-byte QE report body; its report data is filled
	// in for each quote.
	QEReport []byte
	// Header is the 48-byte quote header.
	Header []byte
}

var oidSGX = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}

// NewCA makes a P-256 certificate issued by parent (nil: self-signed).
func NewCA(parent *CA, cn string, notBefore, notAfter time.Time, isCA bool, extra []pkix.Extension) (CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CA{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	ski := sha256.Sum256(elliptic.MarshalCompressed(elliptic.P256(), key.X, key.Y))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"Truce test"}},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: isCA,
		SubjectKeyId: ski[:20], ExtraExtensions: extra,
		CRLDistributionPoints: []string{"https://crl.invalid/" + cn},
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
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

// New makes a platform whose PCK leaf carries the SGX extension of
// realPCK (a real PCK certificate) and whose QE report and header are
// those of realQuote (a real quote), so that real collateral for that
// platform would match it. Its chain is valid a year either side of Epoch.
func New(realQuote []byte, realPCK *x509.Certificate) (*Platform, error) {
	return NewAt(Epoch, realQuote, realPCK)
}

// NewAt is New with the chain valid a year either side of at.
func NewAt(at time.Time, realQuote []byte, realPCK *x509.Certificate) (*Platform, error) {
	if len(realQuote) < 436+512 {
		return nil, errors.New("sgxtest: real quote too short")
	}
	var sgxExt []pkix.Extension
	for _, e := range realPCK.Extensions {
		if e.Id.Equal(oidSGX) {
			sgxExt = append(sgxExt, e)
		}
	}
	if len(sgxExt) != 1 {
		return nil, errors.New("sgxtest: the real PCK certificate has no SGX extension")
	}
	root, err := NewCA(nil, "Truce Test SGX Root CA", at.AddDate(-1, 0, 0), at.AddDate(1, 0, 0), true, nil)
	if err != nil {
		return nil, err
	}
	inter, err := NewCA(&root, "Truce Test SGX PCK Platform CA", at.AddDate(-1, 0, 0), at.AddDate(1, 0, 0), true, nil)
	if err != nil {
		return nil, err
	}
	leaf, err := NewCA(&inter, "Truce Test SGX PCK Certificate", at.AddDate(-1, 0, 0), at.AddDate(1, 0, 0), false, sgxExt)
	if err != nil {
		return nil, err
	}
	return &Platform{
		Root: root, PCKCA: inter, PCK: leaf,
		QEReport: bytes.Clone(realQuote[436+128 : 436+512]),
		Header:   bytes.Clone(realQuote[:48]),
	}, nil
}

// Report is what a test enclave's report says.
type Report struct {
	MRENCLAVE, MRSIGNER [32]byte
	Flags, XFRM         uint64
	ISVProdID, ISVSVN   uint16
	ReportData          [64]byte
}

// Body encodes r as a 384-byte report body.
func (r Report) Body() []byte {
	b := make([]byte, 384)
	binary.LittleEndian.PutUint64(b[48:56], r.Flags)
	binary.LittleEndian.PutUint64(b[56:64], r.XFRM)
	copy(b[64:96], r.MRENCLAVE[:])
	copy(b[128:160], r.MRSIGNER[:])
	binary.LittleEndian.PutUint16(b[256:258], r.ISVProdID)
	binary.LittleEndian.PutUint16(b[258:260], r.ISVSVN)
	copy(b[320:384], r.ReportData[:])
	return b
}

func sign(key *ecdsa.PrivateKey, msg []byte) []byte {
	h := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	if err != nil {
		panic(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// Chain is the PEM certification data (leaf, intermediate, root).
func (p *Platform) Chain() []byte {
	var b bytes.Buffer
	for _, c := range []*x509.Certificate{p.PCK.Cert, p.PCKCA.Cert, p.Root.Cert} {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.Bytes()
}

// Quote makes a quote over the report body, with certification data
// certData (nil: Chain()).
func (p *Platform) Quote(body []byte, certData []byte) []byte {
	if certData == nil {
		certData = p.Chain()
	}
	ak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	var akRaw [64]byte
	ak.X.FillBytes(akRaw[:32])
	ak.Y.FillBytes(akRaw[32:])
	auth := bytes.Repeat([]byte{0xa5}, 32)
	qe := bytes.Clone(p.QEReport)
	bind := sha256.Sum256(append(akRaw[:], auth...))
	copy(qe[320:352], bind[:])
	clear(qe[352:384])
	signed := append(bytes.Clone(p.Header), body...)
	var sig bytes.Buffer
	sig.Write(sign(ak, signed))
	sig.Write(akRaw[:])
	sig.Write(qe)
	sig.Write(sign(p.PCK.Key, qe))
	_ = binary.Write(&sig, binary.LittleEndian, uint16(len(auth)))
	sig.Write(auth)
	_ = binary.Write(&sig, binary.LittleEndian, uint16(5))
	_ = binary.Write(&sig, binary.LittleEndian, uint32(len(certData)))
	sig.Write(certData)
	out := bytes.Clone(signed)
	out = binary.LittleEndian.AppendUint32(out, uint32(sig.Len()))
	return append(out, sig.Bytes()...)
}

// CRL makes a CRL issued by ca, valid from thisUpdate to nextUpdate,
// revoking the given certificates; it returns the DER.
func CRL(ca CA, thisUpdate, nextUpdate time.Time, revoked ...*x509.Certificate) ([]byte, error) {
	var entries []x509.RevocationListEntry
	for _, c := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: thisUpdate})
	}
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: thisUpdate, NextUpdate: nextUpdate,
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
}

// Gramine is a fake /dev/attestation: user_report_data records what is
// written, and reading "quote" returns Quoter's quote over it.
type Gramine struct {
	// Type is the content of attestation_type; New sets "dcap".
	Type string
	// Quoter makes the quote over the written report data.
	Quoter func(reportData [64]byte) []byte

	mu      sync.Mutex
	written [][]byte
	rd      *[64]byte
}

// Written returns everything written to user_report_data.
func (g *Gramine) Written() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.written...)
}

// ReadFile serves attestation_type and quote.
func (g *Gramine) ReadFile(name string) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch name {
	case "attestation_type":
		return []byte(g.Type + "\n"), nil
	case "quote":
		if g.rd == nil {
			return nil, fmt.Errorf("quote: %w (no report data written)", fs.ErrInvalid)
		}
		return g.Quoter(*g.rd), nil
	}
	return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
}

// WriteFile accepts exactly 64 bytes to user_report_data, as Gramine does.
func (g *Gramine) WriteFile(name string, data []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.written = append(g.written, bytes.Clone(data))
	if name != "user_report_data" {
		return fmt.Errorf("%s: %w", name, fs.ErrPermission)
	}
	if len(data) != 64 {
		return fmt.Errorf("user_report_data: %w: %d bytes, want 64", fs.ErrInvalid, len(data))
	}
	var rd [64]byte
	copy(rd[:], data)
	g.rd = &rd
	return nil
}
