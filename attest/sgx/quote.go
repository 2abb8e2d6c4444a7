package sgx

import (
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
)

// Sizes and offsets of the DCAP quote v3 format (Intel SGX ECDSA Quote
// Library Reference, "Quote Format").
const (
	headerSize     = 48
	reportBodySize = 384
	signedSize     = headerSize + reportBodySize // what the attestation key signs
	minQuoteSize   = signedSize + 4 + 64 + 64 + reportBodySize + 64 + 2 + 2 + 4
	// MaxQuoteSize bounds the quotes the verifier parses.
	MaxQuoteSize = 64 << 10
)

// Header field values this verifier accepts.
const (
	quoteVersion3      = 3
	attestationKeyP256 = 2
	certDataPCKChain   = 5
)

// IntelQEVendorID is the QE vendor ID of Intel's quoting enclave.
var IntelQEVendorID = [16]byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}

// ReportBody is an SGX enclave report body (384 bytes).
type ReportBody struct {
	CPUSVN     [16]byte
	MiscSelect uint32
	Flags      uint64 // attributes: flags
	XFRM       uint64 // attributes: XSAVE feature request mask
	MRENCLAVE  [32]byte
	MRSIGNER   [32]byte
	ISVProdID  uint16
	ISVSVN     uint16
	ReportData [64]byte
	raw        []byte
}

// Attribute flags.
const (
	FlagInit          = 1 << 0
	FlagDebug         = 1 << 1
	FlagMode64Bit     = 1 << 2
	FlagProvisionKey  = 1 << 4
	FlagEInitTokenKey = 1 << 5
)

// Attributes returns the 16 attribute bytes (flags ‖ xfrm, little-endian).
func (r *ReportBody) Attributes() []byte { return r.raw[48:64] }

func parseReportBody(b []byte) ReportBody {
	var r ReportBody
	copy(r.CPUSVN[:], b[0:16])
	r.MiscSelect = binary.LittleEndian.Uint32(b[16:20])
	r.Flags = binary.LittleEndian.Uint64(b[48:56])
	r.XFRM = binary.LittleEndian.Uint64(b[56:64])
	copy(r.MRENCLAVE[:], b[64:96])
	copy(r.MRSIGNER[:], b[128:160])
	r.ISVProdID = binary.LittleEndian.Uint16(b[256:258])
	r.ISVSVN = binary.LittleEndian.Uint16(b[258:260])
	copy(r.ReportData[:], b[320:384])
	r.raw = b
	return r
}

// Quote is a parsed DCAP quote v3 with an ECDSA P-256 attestation key and a
// PCK certificate chain. Parsing checks only its shape.
type Quote struct {
	Version     uint16
	QESVN       uint16
	PCESVN      uint16
	QEVendorID  [16]byte
	Report      ReportBody
	Signature   [64]byte // r ‖ s over the header and report body
	AttestKey   [64]byte // x ‖ y
	QEReport    ReportBody
	QESignature [64]byte // r ‖ s over the QE report body, by the PCK key
	QEAuthData  []byte
	PCKChain    []*x509.Certificate // leaf first
	signed      []byte
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// ParseQuote decodes a quote; it never panics on any input.
func ParseQuote(b []byte) (*Quote, error) {
	if len(b) > MaxQuoteSize {
		return nil, malformed("%d bytes, more than %d", len(b), MaxQuoteSize)
	}
	if len(b) < minQuoteSize {
		return nil, malformed("%d bytes, shorter than any v3 quote (%d)", len(b), minQuoteSize)
	}
	q := &Quote{signed: b[:signedSize]}
	q.Version = binary.LittleEndian.Uint16(b[0:2])
	keyType := binary.LittleEndian.Uint16(b[2:4])
	teeType := binary.LittleEndian.Uint32(b[4:8])
	q.QESVN = binary.LittleEndian.Uint16(b[8:10])
	q.PCESVN = binary.LittleEndian.Uint16(b[10:12])
	copy(q.QEVendorID[:], b[12:28])
	switch {
	case q.Version != quoteVersion3:
		return nil, malformed("quote version %d; only version 3 (SGX) is supported", q.Version)
	case keyType != attestationKeyP256:
		return nil, malformed("attestation key type %d; only 2 (ECDSA P-256) is supported", keyType)
	case teeType != 0:
		return nil, malformed("TEE type %#x is not SGX", teeType)
	case q.QEVendorID != IntelQEVendorID:
		return nil, malformed("QE vendor %x is not Intel", q.QEVendorID)
	}
	q.Report = parseReportBody(b[headerSize:signedSize])
	sigLen := binary.LittleEndian.Uint32(b[signedSize : signedSize+4])
	s := b[signedSize+4:]
	if uint64(sigLen) != uint64(len(s)) {
		return nil, malformed("signature data length %d, but %d bytes follow", sigLen, len(s))
	}
	copy(q.Signature[:], s[0:64])
	copy(q.AttestKey[:], s[64:128])
	q.QEReport = parseReportBody(s[128:512])
	copy(q.QESignature[:], s[512:576])
	authLen := int(binary.LittleEndian.Uint16(s[576:578]))
	s = s[578:]
	if len(s) < authLen+6 {
		return nil, malformed("QE authentication data of %d bytes overruns the quote", authLen)
	}
	q.QEAuthData = s[:authLen]
	s = s[authLen:]
	certType := binary.LittleEndian.Uint16(s[0:2])
	certLen := binary.LittleEndian.Uint32(s[2:6])
	s = s[6:]
	if certType != certDataPCKChain {
		return nil, malformed("certification data type %d; only 5 (PCK certificate chain) is supported", certType)
	}
	if uint64(certLen) != uint64(len(s)) {
		return nil, malformed("certification data length %d, but %d bytes follow", certLen, len(s))
	}
	rest := s
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, malformed("certification data holds a %q PEM block", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, malformed("PCK chain certificate %d: %v", len(q.PCKChain), err)
		}
		q.PCKChain = append(q.PCKChain, c)
		if len(q.PCKChain) > 4 {
			return nil, malformed("PCK chain longer than 4 certificates")
		}
	}
	if len(q.PCKChain) < 2 {
		return nil, malformed("PCK chain has %d certificates; want leaf, intermediate and root", len(q.PCKChain))
	}
	return q, nil
}
