// Package tdx verifies Intel TDX quotes (version 4): the binary quote a
// trust domain's quoting enclave signs, whose PCK certificate chain leads to
// Intel's SGX Root CA, which is built in.
//
// Verify checks the quote's format, the PCK chain at VerifyOptions.Now, the
// QE report's signature by the PCK key, the binding of the attestation key
// into the QE report, and the attestation key's signature over the header
// and TD report; it refuses a debug TD (TD_ATTRIBUTES.DEBUG) unless
// AllowDebug. With collateral (Intel's quote-verification collateral, one
// JSON file, see Collateral) it also checks the collateral's signatures and
// CRLs, the FMSPC and PCE ID, the TDX module's signer, the platform's and
// QE's TCB status, and that neither the PCK certificate nor its issuer is
// revoked. It returns MRTD as the measurement, REPORTDATA as the report
// data, and RTMR0–3, MRCONFIGID, MROWNER and MROWNERCONFIG as the extra
// measurements a policy may pin.
//
// It must never return claims for a quote whose signatures or chain do not
// verify, never trust a root the quote brings along, and never panic on any
// input.
package tdx

import (
	"bytes"
	"crypto/x509"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	pb "github.com/google/go-tdx-guest/proto/tdx"
	"github.com/google/go-tdx-guest/verify"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/dcap"
	"github.com/truce-project/truce/platform"
)

// Platform is the name of the TDX platform in policies and evidence.
const Platform = platform.TDX

// Errors callers branch on; each is returned wrapped together with
// attest.ErrBadEvidence.
var (
	// ErrDebug: the TD runs in debug mode, its memory readable by the host.
	ErrDebug = errors.New("trust domain runs in debug mode")
	// ErrCollateral: the collateral is malformed, expired, not signed by
	// Intel, or not for this platform.
	ErrCollateral = errors.New("TDX collateral does not verify")
	// ErrTCB: the collateral says the platform's or quoting enclave's TCB
	// is out of date or revoked, or lists no level the quote meets.
	ErrTCB = errors.New("TDX TCB not acceptable")
	// ErrRevoked: the PCK certificate or its issuer is on a CRL.
	ErrRevoked = errors.New("PCK certificate revoked")
)

//go:embed intel_sgx_root_ca.pem
var rootPEM []byte

var rootCert = func() *x509.Certificate {
	b, _ := pem.Decode(rootPEM)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		panic("tdx: built-in Intel SGX Root CA: " + err.Error())
	}
	return c
}()

// RootCA returns Intel's SGX Root CA certificate, which the verifier trusts.
func RootCA() *x509.Certificate { return rootCert }

func roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(rootCert)
	return p
}

// Verifier checks TDX quotes. The zero value is ready to use and trusts
// the built-in Intel SGX Root CA.
type Verifier struct {
	// Collateral, if set, is used when VerifyOptions.Collateral is nil:
	// collateral an attestation service keeps in one file, in the layout
	// of Collateral (refresh it before its next update, or quotes are
	// refused for expired collateral).
	Collateral []byte
	// Fetch, if set, gets Intel's collateral from its PCS (see package
	// attest/dcap: dcap.PCSGetter, or a cache in front of it such as the
	// attestation service's) when neither VerifyOptions.Collateral nor
	// Collateral is given, for the quote's FMSPC and PCK CA. Fetched
	// collateral is checked exactly as given collateral is.
	Fetch dcap.Getter
}

// NewVerifier returns a Verifier that trusts the built-in Intel root.
func NewVerifier() *Verifier { return &Verifier{} }

// Platform returns "tdx".
func (*Verifier) Platform() string { return Platform }

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: tdx: %s", attest.ErrBadEvidence, fmt.Sprintf(format, args...))
}

func badKind(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: tdx: %w: %s", attest.ErrBadEvidence, kind, fmt.Sprintf(format, args...))
}

// tdAttributesDebug is bit 0 of TD_ATTRIBUTES.
const tdAttributesDebug = 1

// Verify checks evidence, a raw TDX quote, at opts.Time(), against
// opts.Collateral (or the Verifier's Collateral) when given.
func (v *Verifier) Verify(evidence []byte, opts attest.VerifyOptions) (c *attest.Claims, err error) {
	defer func() {
		// The quote parser indexes into attacker-controlled lengths; a
		// malformed quote must be an error, never a crash.
		if r := recover(); r != nil {
			c, err = nil, bad("malformed quote (%v)", r)
		}
	}()
	parsed, err := abi.QuoteToProto(evidence)
	if err != nil {
		return nil, bad("malformed quote: %v", err)
	}
	quote, ok := parsed.(*pb.QuoteV4)
	if !ok {
		return nil, bad("quote is %T, want a version 4 quote", parsed)
	}
	if err := abi.CheckQuoteV4(quote); err != nil {
		return nil, bad("malformed quote: %v", err)
	}
	// The quote's length is the header, the TD report and the signed data
	// whose size the quote states; nothing may follow.
	const signedDataSizeOffset = 632
	if len(evidence) < signedDataSizeOffset+4 {
		return nil, bad("quote is %d bytes, too short", len(evidence))
	}
	if want := signedDataSizeOffset + 4 + int64(binary.LittleEndian.Uint32(evidence[signedDataSizeOffset:])); int64(len(evidence)) != want {
		return nil, bad("quote is %d bytes but states %d: give exactly the quote, with nothing appended", len(evidence), want)
	}
	canon, err := abi.QuoteToAbiBytes(quote)
	if err != nil || !bytes.Equal(canon, evidence) {
		return nil, bad("quote has %d bytes beyond its signed data or is not in canonical form", len(evidence)-len(canon))
	}
	now := opts.Time()
	if err := verify.TdxQuote(quote, &verify.Options{Now: now, TrustedRoots: roots()}); err != nil {
		return nil, bad("signature or PCK chain (Intel SGX Root CA, at %s): %v", now.UTC().Format("2006-01-02T15:04:05Z"), err)
	}
	body := quote.GetTdQuoteBody()
	attrs := binary.LittleEndian.Uint64(body.GetTdAttributes())
	if err := checkAttributes(attrs, opts.AllowDebug); err != nil {
		return nil, err
	}
	pck, err := pckCert(quote)
	if err != nil {
		return nil, err
	}
	exts, err := pcs.PckCertificateExtensions(pck.leaf)
	if err != nil {
		return nil, bad("PCK certificate extensions: %v", err)
	}
	c = claims(quote, exts, attrs)
	collateral := opts.Collateral
	if collateral == nil {
		collateral = v.Collateral
	}
	if collateral == nil && v.Fetch != nil {
		ca, err := dcap.CA(pck.leaf.Issuer.CommonName)
		if err == nil {
			collateral, err = dcap.Fetch(v.Fetch, dcap.TDX, exts.FMSPC, ca)
		}
		if err != nil {
			return nil, badKind(ErrCollateral, "fetching Intel's collateral for FMSPC %s from the PCS: %v; retry later, or give the collateral in a file", exts.FMSPC, err)
		}
	}
	if collateral == nil {
		c.Details["tcb_status"] = "not checked (no collateral given)"
		return c, nil
	}
	col, err := ParseCollateral(collateral)
	if err != nil {
		return nil, err
	}
	st, fresh, err := check(col, quote, pck, exts, now)
	if err != nil {
		return nil, err
	}
	c.Collateral = fresh
	for k, v := range st {
		c.Details[k] = v
	}
	return c, nil
}

// checkAttributes refuses a debug TD unless allowDebug.
func checkAttributes(attrs uint64, allowDebug bool) error {
	if attrs&tdAttributesDebug != 0 && !allowDebug {
		return badKind(ErrDebug, "TD_ATTRIBUTES %#016x has DEBUG set: the host can read this TD's memory; launch it without debug, or accept with --allow-debug for testing only", attrs)
	}
	return nil
}

type pckChain struct{ leaf, intermediate *x509.Certificate }

// pckCert returns the PCK certificate and its issuer from the quote's
// certification data; the chain has been verified by then.
func pckCert(q *pb.QuoteV4) (*pckChain, error) {
	data := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetPckCertificateChainData().GetPckCertChain()
	var certs []*x509.Certificate
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, bad("PCK chain: %v", err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		return nil, bad("PCK chain has %d certificates, want leaf, issuer and root", len(certs))
	}
	return &pckChain{leaf: certs[0], intermediate: certs[1]}, nil
}

func claims(q *pb.QuoteV4, exts *pcs.PckExtensions, attrs uint64) *attest.Claims {
	b := q.GetTdQuoteBody()
	c := &attest.Claims{
		Platform:    Platform,
		Measurement: bytes.Clone(b.GetMrTd()),
		Extra: map[string][]byte{
			"mrconfigid":    bytes.Clone(b.GetMrConfigId()),
			"mrowner":       bytes.Clone(b.GetMrOwner()),
			"mrownerconfig": bytes.Clone(b.GetMrOwnerConfig()),
		},
		Details: map[string]string{
			"quote_version":   fmt.Sprint(q.GetHeader().GetVersion()),
			"td_attributes":   fmt.Sprintf("%#016x", attrs),
			"debug":           fmt.Sprint(attrs&tdAttributesDebug != 0),
			"xfam":            hex.EncodeToString(b.GetXfam()),
			"tee_tcb_svn":     hex.EncodeToString(b.GetTeeTcbSvn()),
			"mrseam":          hex.EncodeToString(b.GetMrSeam()),
			"mrsignerseam":    hex.EncodeToString(b.GetMrSignerSeam()),
			"seam_attributes": hex.EncodeToString(b.GetSeamAttributes()),
			"mrconfigid":      hex.EncodeToString(b.GetMrConfigId()),
			"mrowner":         hex.EncodeToString(b.GetMrOwner()),
			"mrownerconfig":   hex.EncodeToString(b.GetMrOwnerConfig()),
			"fmspc":           exts.FMSPC,
			"pce_id":          exts.PCEID,
			"pce_svn":         fmt.Sprint(exts.TCB.PCESvn),
			"cpu_svn":         hex.EncodeToString(exts.TCB.CPUSvn),
		},
	}
	c.TCB = map[string]int{platform.PCESVN: int(exts.TCB.PCESvn)}
	for i, v := range b.GetTeeTcbSvn() {
		c.TCB[platform.SVN(platform.TEETCBSVN, i)] = int(v)
	}
	for i, v := range exts.TCB.CPUSvnComponents {
		c.TCB[platform.SVN(platform.CPUSVN, i)] = int(v)
	}
	for i, r := range b.GetRtmrs() {
		name := fmt.Sprintf("rtmr%d", i)
		c.Extra[name] = bytes.Clone(r)
		c.Details[name] = hex.EncodeToString(r)
	}
	copy(c.ReportData[:], b.GetReportData())
	return c
}
