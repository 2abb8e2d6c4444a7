package nitro

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha512"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/platform"
)

// Platform is the name of this platform in policies and evidence.
const Platform = platform.Nitro

// RootPEM is the AWS Nitro Enclaves root certificate (G1), as AWS publishes
// it at https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip
// (SHA-256 of the DER: see RootFingerprint).
//
//go:embed root-g1.pem
var RootPEM []byte

// RootFingerprint is the SHA-256 of the root certificate's DER encoding, as
// AWS documents it.
const RootFingerprint = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"

// Errors callers branch on; each wraps attest.ErrBadEvidence.
var (
	// ErrSignature: the COSE_Sign1 signature does not verify with the leaf key.
	ErrSignature = fmt.Errorf("%w: nitro document signature", attest.ErrBadEvidence)
	// ErrChain: the certificate chain does not verify to the trusted root at the time.
	ErrChain = fmt.Errorf("%w: nitro certificate chain", attest.ErrBadEvidence)
	// ErrDebug: the enclave runs in debug mode and debug was not allowed.
	ErrDebug = fmt.Errorf("%w: nitro enclave in debug mode", attest.ErrBadEvidence)
	// ErrMalformed: the document is not a well-formed attestation document.
	ErrMalformed = fmt.Errorf("%w: malformed nitro document", attest.ErrBadEvidence)
)

// MaxDocumentSize bounds the documents the verifier parses; the NSM returns
// at most 16 KiB.
const MaxDocumentSize = 64 << 10

// Document is a parsed attestation document. Its fields are only as
// trustworthy as the verification that produced it.
type Document struct {
	ModuleID    string
	Digest      string
	Timestamp   time.Time
	PCRs        map[int][]byte
	Certificate *x509.Certificate
	CABundle    []*x509.Certificate
	PublicKey   []byte
	UserData    []byte
	Nonce       []byte
}

// Verifier checks Nitro attestation documents. The zero value trusts the
// embedded AWS root.
type Verifier struct {
	// Roots replaces the AWS root; nil means the embedded root. Tests use
	// it with documents from a fake NSM.
	Roots *x509.CertPool
}

var _ attest.Verifier = Verifier{}

// Platform returns "nitro".
func (Verifier) Platform() string { return Platform }

var (
	awsRoot     *x509.Certificate
	awsRootPool *x509.CertPool
)

func init() {
	b, _ := pem.Decode(RootPEM)
	if b == nil {
		panic("nitro: embedded root is not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		panic("nitro: embedded root: " + err.Error())
	}
	awsRoot = c
	awsRootPool = x509.NewCertPool()
	awsRootPool.AddCert(c)
}

// Root returns the embedded AWS Nitro Enclaves root certificate.
func Root() *x509.Certificate { return awsRoot }

type coseSign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

type payload struct {
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

var decMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxArrayElements: 1024,
		MaxMapPairs:      1024,
		MaxNestedLevels:  8,
		IndefLength:      cbor.IndefLengthForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

// Parse decodes a document and checks its signature and chain at opts.Time()
// against roots (nil: the AWS root), without judging PCRs or debug mode.
func Parse(evidence []byte, roots *x509.CertPool, now time.Time) (*Document, error) {
	if len(evidence) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(evidence), MaxDocumentSize)
	}
	if roots == nil {
		roots = awsRootPool
	}
	// Documents from the NSM are untagged; accept the COSE_Sign1 tag (18) too.
	if len(evidence) > 0 && evidence[0] == 0xd2 {
		evidence = evidence[1:]
	}
	var msg coseSign1
	if err := decMode.Unmarshal(evidence, &msg); err != nil {
		return nil, fmt.Errorf("%w: not a COSE_Sign1 array: %v", ErrMalformed, err)
	}
	var prot map[int]cbor.RawMessage
	if err := decMode.Unmarshal(msg.Protected, &prot); err != nil {
		return nil, fmt.Errorf("%w: protected header: %v", ErrMalformed, err)
	}
	var alg int
	if raw, ok := prot[1]; !ok || decMode.Unmarshal(raw, &alg) != nil || alg != -35 {
		return nil, fmt.Errorf("%w: protected header must name ES384 (alg -35)", ErrMalformed)
	}
	if len(prot) != 1 {
		return nil, fmt.Errorf("%w: protected header has %d entries, want only alg", ErrMalformed, len(prot))
	}
	var p payload
	if err := decMode.Unmarshal(msg.Payload, &p); err != nil {
		return nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if p.ModuleID == "" || p.Timestamp == 0 || len(p.PCRs) == 0 || len(p.Certificate) == 0 || len(p.CABundle) == 0 {
		return nil, fmt.Errorf("%w: module_id, timestamp, pcrs, certificate and cabundle are all required", ErrMalformed)
	}
	if p.Digest != "SHA384" {
		return nil, fmt.Errorf("%w: digest %q, want SHA384", ErrMalformed, p.Digest)
	}
	if len(p.PCRs) > 32 {
		return nil, fmt.Errorf("%w: %d PCRs, at most 32", ErrMalformed, len(p.PCRs))
	}
	for i, v := range p.PCRs {
		if i >= 32 || len(v) != sha512.Size384 {
			return nil, fmt.Errorf("%w: PCR%d is %d bytes, want index < 32 and 48 bytes", ErrMalformed, i, len(v))
		}
	}
	if len(p.UserData) > 512 || len(p.Nonce) > 512 || len(p.PublicKey) > 1024 {
		return nil, fmt.Errorf("%w: user_data, nonce or public_key longer than the NSM allows", ErrMalformed)
	}
	leaf, err := x509.ParseCertificate(p.Certificate)
	if err != nil {
		return nil, fmt.Errorf("%w: leaf certificate: %v", ErrMalformed, err)
	}
	bundle := make([]*x509.Certificate, 0, len(p.CABundle))
	inter := x509.NewCertPool()
	for i, der := range p.CABundle {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: cabundle[%d]: %v", ErrMalformed, i, err)
		}
		bundle = append(bundle, c)
		if i > 0 { // cabundle[0] is the root; only the pinned root is trusted
			inter.AddCert(c)
		}
	}
	// The signature first, so that a forged document fails the same way
	// whatever its chain.
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve.Params().BitSize != 384 {
		return nil, fmt.Errorf("%w: leaf key is not ECDSA P-384", ErrSignature)
	}
	if len(msg.Signature) != 96 {
		return nil, fmt.Errorf("%w: signature is %d bytes, want 96", ErrSignature, len(msg.Signature))
	}
	tbs, err := cbor.Marshal([]any{"Signature1", msg.Protected, []byte{}, msg.Payload})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	h := sha512.Sum384(tbs)
	r := new(big.Int).SetBytes(msg.Signature[:48])
	s := new(big.Int).SetBytes(msg.Signature[48:])
	if !ecdsa.Verify(pub, h[:], r, s) {
		return nil, fmt.Errorf("%w: does not verify with the leaf certificate's key", ErrSignature)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("%w: %v (verified at %s)", ErrChain, err, now.UTC().Format(time.RFC3339))
	}
	ts := time.UnixMilli(int64(min(p.Timestamp, 1<<62)))
	if ts.Before(leaf.NotBefore) || ts.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: timestamp %s outside the leaf certificate's validity", ErrMalformed, ts.UTC().Format(time.RFC3339))
	}
	pcrs := make(map[int][]byte, len(p.PCRs))
	for i, v := range p.PCRs {
		pcrs[int(i)] = v
	}
	return &Document{
		ModuleID: p.ModuleID, Digest: p.Digest, Timestamp: ts, PCRs: pcrs,
		Certificate: leaf, CABundle: bundle,
		PublicKey: p.PublicKey, UserData: p.UserData, Nonce: p.Nonce,
	}, nil
}

// Debug reports whether the document comes from an enclave started in debug
// mode: the NSM then reports PCR0, PCR1 and PCR2 as zero.
func (d *Document) Debug() bool {
	zero := make([]byte, sha512.Size384)
	for _, i := range []int{0, 1, 2} {
		if !bytes.Equal(d.PCRs[i], zero) {
			return false
		}
	}
	return true
}

// ReportData returns the 64 bytes of report data the document carries: its
// user_data if that is 64 bytes, otherwise its nonce if that is; ok is false
// if neither is.
func (d *Document) ReportData() (rd [64]byte, ok bool) {
	switch {
	case len(d.UserData) == 64:
		copy(rd[:], d.UserData)
		return rd, true
	case len(d.UserData) == 0 && len(d.Nonce) == 64:
		copy(rd[:], d.Nonce)
		return rd, true
	}
	return rd, false
}

// Verify checks a document as Parse does, refuses debug enclaves unless
// opts.AllowDebug, and returns PCR0 as the measurement, PCR1–4 and PCR8 as
// extra measurements and the report data (all zero, with Details
// "report_data" saying so, if the document carries none of 64 bytes: such a
// document never matches a binding).
func (v Verifier) Verify(evidence []byte, opts attest.VerifyOptions) (*attest.Claims, error) {
	d, err := Parse(evidence, v.Roots, opts.Time())
	if err != nil {
		return nil, err
	}
	if _, ok := d.PCRs[0]; !ok {
		return nil, fmt.Errorf("%w: no PCR0", ErrMalformed)
	}
	if d.Debug() && !opts.AllowDebug {
		return nil, fmt.Errorf("%w: PCR0-2 are zero; the host can read its memory (allow debug only for testing)", ErrDebug)
	}
	c := &attest.Claims{
		Platform:    Platform,
		Measurement: bytes.Clone(d.PCRs[0]),
		Extra:       map[string][]byte{},
		Details: map[string]string{
			"module_id": d.ModuleID,
			"timestamp": d.Timestamp.UTC().Format(time.RFC3339Nano),
			"debug":     strconv.FormatBool(d.Debug()),
			"leaf":      d.Certificate.Subject.CommonName,
		},
	}
	for _, i := range []int{0, 1, 2, 3, 4, 8} {
		if pcr, ok := d.PCRs[i]; ok {
			c.Details["pcr"+strconv.Itoa(i)] = hex.EncodeToString(pcr)
			if i != 0 {
				c.Extra["pcr"+strconv.Itoa(i)] = bytes.Clone(pcr)
			}
		}
	}
	if rd, ok := d.ReportData(); ok {
		c.ReportData = rd
		c.Details["report_data"] = "user_data"
		if len(d.UserData) == 0 {
			c.Details["report_data"] = "nonce"
		}
	} else {
		c.Details["report_data"] = fmt.Sprintf("none (user_data %d bytes, nonce %d bytes; 64 needed)", len(d.UserData), len(d.Nonce))
	}
	if d.UserData != nil {
		c.Details["user_data"] = hex.EncodeToString(d.UserData)
	}
	if d.Nonce != nil {
		c.Details["nonce"] = hex.EncodeToString(d.Nonce)
	}
	if d.PublicKey != nil {
		c.Details["public_key"] = hex.EncodeToString(d.PublicKey)
	}
	return c, nil
}
