package sgx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/dcap"
	"github.com/truce-project/truce/platform"
)

// Platform is the name of this platform in policies and evidence.
const Platform = platform.SGX

// RootPEM is the Intel SGX Root CA certificate, as Intel publishes it at
// https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.pem
// (SHA-256 of the DER: RootFingerprint).
//
//go:embed intel-sgx-root-ca.pem
var RootPEM []byte

// RootFingerprint is the SHA-256 of the Intel SGX Root CA's DER encoding.
const RootFingerprint = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

// Errors callers branch on; each wraps attest.ErrBadEvidence.
var (
	// ErrMalformed: not a well-formed DCAP quote v3 with a PCK chain.
	ErrMalformed = fmt.Errorf("%w: malformed sgx quote", attest.ErrBadEvidence)
	// ErrSignature: the quote or QE report signature, or the binding of the
	// attestation key into the QE report, does not verify.
	ErrSignature = fmt.Errorf("%w: sgx quote signature", attest.ErrBadEvidence)
	// ErrChain: the PCK chain does not verify to the Intel root at the time.
	ErrChain = fmt.Errorf("%w: sgx PCK certificate chain", attest.ErrBadEvidence)
	// ErrCollateral: the collateral is malformed, not signed by Intel, not
	// current, revokes the PCK chain, or does not match the quote.
	ErrCollateral = fmt.Errorf("%w: sgx collateral", attest.ErrBadEvidence)
	// ErrDebug: a debug enclave and debug was not allowed.
	ErrDebug = fmt.Errorf("%w: sgx debug enclave", attest.ErrBadEvidence)
	// ErrTCBRevoked: the platform's or quoting enclave's TCB is revoked.
	ErrTCBRevoked = fmt.Errorf("%w: sgx TCB revoked", attest.ErrBadEvidence)
)

// TCBUnknown is the TCB status reported when no collateral was given.
const TCBUnknown = "unknown (no collateral)"

var intelRoot = func() *x509.Certificate {
	b, _ := pem.Decode(RootPEM)
	if b == nil {
		panic("sgx: embedded root is not PEM")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		panic("sgx: embedded root: " + err.Error())
	}
	return c
}()

// Root returns the embedded Intel SGX Root CA certificate.
func Root() *x509.Certificate { return intelRoot }

// Verifier checks DCAP quotes. The zero value trusts the embedded Intel
// root and takes collateral from VerifyOptions.Collateral.
type Verifier struct {
	// Root replaces the Intel root; nil means the embedded one.
	Root *x509.Certificate
	// Collateral is the collateral JSON used when VerifyOptions.Collateral
	// is empty (an attestation service configured offline); nil means
	// none, so the TCB status is unknown.
	Collateral []byte
	// Fetch, if set, gets Intel's collateral from its PCS (see package
	// attest/dcap: dcap.PCSGetter, or a cache in front of it such as the
	// attestation service's) when neither VerifyOptions.Collateral nor
	// Collateral is given, for the quote's FMSPC and PCK CA, once its PCK
	// chain has verified. Fetched collateral is checked exactly as given
	// collateral is.
	Fetch dcap.Getter
}

var _ attest.Verifier = Verifier{}

// Platform returns "sgx".
func (Verifier) Platform() string { return Platform }

// Result is what a verified quote says.
type Result struct {
	Quote         *Quote
	PCK           *pcs.PckExtensions
	TCBStatus     string // TCBUnknown without collateral
	QETCBStatus   string // TCBUnknown without collateral
	Advisories    []string
	CRLsChecked   bool
	TCBEvaluation int
	// Collateral is the freshness of the TCB info and QE identity
	// used; nil without collateral.
	Collateral []attest.Freshness
}

func verifyP256(pub *ecdsa.PublicKey, msg []byte, sig []byte) bool {
	if len(sig) != 64 || pub == nil || pub.Curve != elliptic.P256() {
		return false
	}
	h := sha256.Sum256(msg)
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// attestKey decodes the raw x ‖ y attestation key.
func attestKey(b [64]byte) (*ecdsa.PublicKey, error) {
	pt := append([]byte{4}, b[:]...)
	x, y := elliptic.Unmarshal(elliptic.P256(), pt) //nolint:staticcheck // raw point, validated on the curve
	if x == nil {
		return nil, fmt.Errorf("%w: attestation key is not a P-256 point", ErrSignature)
	}
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}, nil
}

// VerifyQuote checks a quote's signatures and PCK chain at now, and, with
// collateral (nil: none), the TCB info, QE identity and CRLs.
func VerifyQuote(quote []byte, root *x509.Certificate, collateral *Collateral, now time.Time) (*Result, error) {
	if root == nil {
		root = intelRoot
	}
	q, err := ParseQuote(quote)
	if err != nil {
		return nil, err
	}
	// The attestation key signs the header and the enclave's report.
	ak, err := attestKey(q.AttestKey)
	if err != nil {
		return nil, err
	}
	if !verifyP256(ak, q.signed, q.Signature[:]) {
		return nil, fmt.Errorf("%w: the attestation key's signature over the enclave report does not verify", ErrSignature)
	}
	// The QE binds the attestation key into its report data.
	bind := sha256.Sum256(append(append([]byte{}, q.AttestKey[:]...), q.QEAuthData...))
	if !bytes.Equal(q.QEReport.ReportData[:32], bind[:]) || !bytes.Equal(q.QEReport.ReportData[32:], make([]byte, 32)) {
		return nil, fmt.Errorf("%w: the QE report does not bind the attestation key", ErrSignature)
	}
	// The PCK key signs the QE report.
	leaf := q.PCKChain[0]
	pckKey, _ := leaf.PublicKey.(*ecdsa.PublicKey)
	if !verifyP256(pckKey, q.QEReport.raw, q.QESignature[:]) {
		return nil, fmt.Errorf("%w: the PCK certificate's signature over the QE report does not verify", ErrSignature)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range q.PCKChain[1:] {
		if !c.Equal(root) {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("%w: %v (verified at %s)", ErrChain, err, now.UTC().Format(time.RFC3339))
	}
	ext, err := pcs.PckCertificateExtensions(leaf)
	if err != nil {
		return nil, fmt.Errorf("%w: PCK certificate SGX extensions: %v", ErrChain, err)
	}
	res := &Result{Quote: q, PCK: ext, TCBStatus: TCBUnknown, QETCBStatus: TCBUnknown}
	if collateral != nil {
		if err := checkCollateral(collateral, res, root, now); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// fetchAndCheck gets the collateral of a quote whose chain has verified
// through v.Fetch and checks the quote against it.
func (v Verifier) fetchAndCheck(res *Result, now time.Time) error {
	ca, err := dcap.CA(res.Quote.PCKChain[0].Issuer.CommonName)
	var raw []byte
	if err == nil {
		raw, err = dcap.Fetch(v.Fetch, dcap.SGX, res.PCK.FMSPC, ca)
	}
	if err != nil {
		return colErr("fetching Intel's collateral for FMSPC %s from the PCS: %v; retry later, or give the collateral in a file", res.PCK.FMSPC, err)
	}
	col, err := ParseCollateral(raw)
	if err != nil {
		return err
	}
	root := v.Root
	if root == nil {
		root = intelRoot
	}
	return checkCollateral(col, res, root, now)
}

// Verify checks a quote as VerifyQuote does with the collateral in
// opts.Collateral (if any), refuses debug enclaves unless opts.AllowDebug,
// and returns MRENCLAVE as the measurement, MRSIGNER as extra "mrsigner",
// the report data, and the TCB status in Details.
func (v Verifier) Verify(evidence []byte, opts attest.VerifyOptions) (*attest.Claims, error) {
	var col *Collateral
	raw := opts.Collateral
	if len(raw) == 0 {
		raw = v.Collateral
	}
	if len(raw) > 0 {
		c, err := ParseCollateral(raw)
		if err != nil {
			return nil, err
		}
		col = c
	}
	res, err := VerifyQuote(evidence, v.Root, col, opts.Time())
	if err != nil {
		return nil, err
	}
	if col == nil && v.Fetch != nil {
		if err := v.fetchAndCheck(res, opts.Time()); err != nil {
			return nil, err
		}
	}
	r := res.Quote.Report
	debug := r.Flags&FlagDebug != 0
	if debug && !opts.AllowDebug {
		return nil, fmt.Errorf("%w: the DEBUG attribute is set, so the host can read the enclave's memory (allow debug only for testing)", ErrDebug)
	}
	c := &attest.Claims{
		Platform:    Platform,
		Measurement: bytes.Clone(r.MRENCLAVE[:]),
		ReportData:  r.ReportData,
		Extra:       map[string][]byte{platform.SGXMRSigner: bytes.Clone(r.MRSIGNER[:])},
		Details: map[string]string{
			"mrsigner":      hex.EncodeToString(r.MRSIGNER[:]),
			"isvprodid":     strconv.Itoa(int(r.ISVProdID)),
			"isvsvn":        strconv.Itoa(int(r.ISVSVN)),
			"attributes":    hex.EncodeToString(r.Attributes()),
			"miscselect":    fmt.Sprintf("%08x", r.MiscSelect),
			"cpusvn":        hex.EncodeToString(r.CPUSVN[:]),
			"debug":         strconv.FormatBool(debug),
			"tcb_status":    res.TCBStatus,
			"qe_tcb_status": res.QETCBStatus,
			"fmspc":         strings.ToLower(res.PCK.FMSPC),
			"pceid":         strings.ToLower(res.PCK.PCEID),
			"pck_issuer":    res.Quote.PCKChain[0].Issuer.CommonName,
			"crls_checked":  strconv.FormatBool(res.CRLsChecked),
		},
	}
	if len(res.Advisories) > 0 {
		c.Details["advisories"] = strings.Join(res.Advisories, ",")
	}
	c.TCB = map[string]int{platform.ISVSVN: int(r.ISVSVN), platform.PCESVN: int(res.PCK.TCB.PCESvn)}
	for i, v := range res.PCK.TCB.CPUSvnComponents {
		c.TCB[platform.SVN(platform.CPUSVN, i)] = int(v)
	}
	c.Collateral = res.Collateral
	return c, nil
}
