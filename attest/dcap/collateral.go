package dcap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/truce-project/truce/attest"
)

// Errors of collateral, which the SGX and TDX verifiers wrap in their own.
var (
	// ErrCollateral: the collateral is malformed, not signed by Intel,
	// not current, or not for the platform of the quote.
	ErrCollateral = errors.New("collateral does not verify")
	// ErrRevoked: a CRL of the collateral revokes the PCK certificate,
	// its CA or a collateral signer.
	ErrRevoked = errors.New("revoked by Intel's CRL")
)

// MaxCollateralSize bounds the collateral file a verifier parses.
const MaxCollateralSize = 1 << 20

// Collateral is Intel's quote-verification collateral for one platform,
// in the one-file JSON layout both the SGX and the TDX verifier read and
// Fetch writes: the fields of Intel's sgx_ql_qve_collateral_t, as Intel's
// quote-verification libraries and caching services hand them out.
//
//	{
//	  "version":                  3,          (optional, not judged)
//	  "tee_type":                 "0x81",     (optional: 0x00 SGX, 0x81 TDX)
//	  "pck_crl_issuer_chain":     "PEM: PCK Platform/Processor CA, Root CA",
//	  "root_ca_crl":              "the Root CA's CRL, DER in hex, or PEM",
//	  "pck_crl":                  "the PCK CA's CRL, DER in hex, or PEM",
//	  "tcb_info_issuer_chain":    "PEM: TCB Signing, Root CA",
//	  "tcb_info":                 "{\"tcbInfo\":{…},\"signature\":\"…\"} as Intel's PCS served it",
//	  "qe_identity_issuer_chain": "PEM: TCB Signing, Root CA",
//	  "qe_identity":              "{\"enclaveIdentity\":{…},\"signature\":\"…\"}"
//	}
//
// It is read strictly: these field names only (as encoding/json matches
// them), every value a JSON string, no other field. tcb_info and
// qe_identity are the PCS response bodies, or the signed tcbInfo and
// enclaveIdentity objects alone with their signatures (hex) in
// tcb_info_signature and qe_identity_signature. The CRLs are both given or
// both absent; a verifier may require them (TDX does).
type Collateral struct {
	// Version is the version of Intel's collateral structure; recorded,
	// not judged.
	Version int `json:"version,omitempty"`
	// TEEType, if set, names the TEE the collateral is for, as Intel's
	// sgx_ql_qve_collateral_t does: "0x00" (SGX) or "0x81" (TDX).
	TEEType               string `json:"tee_type,omitempty"`
	PCKCRLIssuerChain     string `json:"pck_crl_issuer_chain,omitempty"`
	RootCACRL             string `json:"root_ca_crl,omitempty"`
	PCKCRL                string `json:"pck_crl,omitempty"`
	TCBInfoIssuerChain    string `json:"tcb_info_issuer_chain"`
	TCBInfo               string `json:"tcb_info"`
	TCBInfoSignature      string `json:"tcb_info_signature,omitempty"`
	QEIdentityIssuerChain string `json:"qe_identity_issuer_chain"`
	QEIdentity            string `json:"qe_identity"`
	QEIdentitySignature   string `json:"qe_identity_signature,omitempty"`
}

func colErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCollateral, fmt.Sprintf(format, args...))
}

func revoked(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRevoked, fmt.Sprintf(format, args...))
}

// ParseCollateral reads collateral in the one-file JSON layout, strictly
// (see Collateral). It checks only the form; Check checks signatures,
// dates and contents. Errors wrap ErrCollateral.
func ParseCollateral(b []byte) (*Collateral, error) {
	if len(b) > MaxCollateralSize {
		return nil, colErr("%d bytes, more than %d", len(b), MaxCollateralSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Collateral
	if err := dec.Decode(&c); err != nil {
		return nil, colErr("not collateral JSON: %v (give Intel's quote-verification collateral as one JSON object of strings, with the field names of sgx_ql_qve_collateral_t in snake case)", err)
	}
	if dec.More() {
		return nil, colErr("data after the collateral's JSON object")
	}
	if c.TCBInfo == "" || c.QEIdentity == "" || c.TCBInfoIssuerChain == "" || c.QEIdentityIssuerChain == "" {
		return nil, colErr("tcb_info, qe_identity and their issuer chains are required")
	}
	if (c.RootCACRL == "") != (c.PCKCRL == "") {
		return nil, colErr("give both root_ca_crl and pck_crl, or neither")
	}
	return &c, nil
}

// teeTypes are Intel's tee_type values.
var teeTypes = map[TEE]uint64{SGX: 0x00, TDX: 0x81}

// tcbInfoIDs and qeIDs are the ids of the TCB info and QE identity of
// each TEE (PCS API v4: TCB info version 3, QE identity version 2).
var (
	tcbInfoIDs = map[TEE]string{SGX: "SGX", TDX: "TDX"}
	qeIDs      = map[TEE]string{SGX: "QE", TDX: "TD_QE"}
)

// Checked is what verified collateral says.
type Checked struct {
	// TCBInfo is the signed TCB info.
	TCBInfo pcs.TcbInfo
	// QEIdentity is the signed identity of the quoting enclave.
	QEIdentity pcs.EnclaveIdentity
	// CRLsChecked says the CRLs were given and checked.
	CRLsChecked bool
	// Freshness is that of the TCB info and the QE identity, in order.
	Freshness []attest.Freshness
}

// Check verifies the collateral of a tee quote whose PCK certificate pck
// was issued by pckCA (both from the quote, its chain verified to root by
// the verifier) at now, against Intel's root root: the TCB info's and QE
// identity's issuer chains verify to root (at most three certificates),
// their signatures, ids and versions, that both are current, and that the
// TCB info is for the PCK certificate's FMSPC and PCE ID; and, when the
// CRLs are given (requireCRLs: they must be), that the root CA CRL is
// signed by root, the PCK CRL by pckCA (and by the signer of
// pck_crl_issuer_chain, if given, which must verify to root and be
// pckCA's name), both current, and that neither pck, pckCA nor the
// collateral's signers are revoked. Errors wrap ErrCollateral or
// ErrRevoked.
func (c *Collateral) Check(tee TEE, root, pck, pckCA *x509.Certificate, fmspc, pceID string, requireCRLs bool, now time.Time) (*Checked, error) {
	want, ok := teeTypes[tee]
	if !ok {
		return nil, colErr("unknown TEE %q", tee)
	}
	if c.TEEType != "" {
		got, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(c.TEEType), "0x"), 16, 32)
		if err != nil || got != want {
			return nil, colErr("tee_type %q is not %s's (%#02x)", c.TEEType, tee, want)
		}
	}
	var rootCRL, pckCRL *x509.RevocationList
	if c.RootCACRL != "" {
		var err error
		if rootCRL, err = parseCRL(c.RootCACRL, "root CA CRL"); err != nil {
			return nil, err
		}
		if pckCRL, err = parseCRL(c.PCKCRL, "PCK CRL"); err != nil {
			return nil, err
		}
	} else if requireCRLs {
		return nil, colErr("root_ca_crl and pck_crl are required: a %s quote's PCK certificate is always checked for revocation", tee)
	}
	out := &Checked{}
	// TCB info: signed by Intel, current, for this platform.
	signer, err := verifyIssuer(c.TCBInfoIssuerChain, root, rootCRL, now, "TCB info")
	if err != nil {
		return nil, err
	}
	body, sig, err := signedBody(c.TCBInfo, "tcbInfo", c.TCBInfoSignature)
	if err != nil {
		return nil, err
	}
	if !checkSig(signer, body, sig) {
		return nil, colErr("TCB info signature does not verify with %q", signer.Subject.CommonName)
	}
	ti := &out.TCBInfo
	if err := json.Unmarshal(body, ti); err != nil {
		return nil, colErr("TCB info: %v", err)
	}
	if ti.Version != 3 || ti.ID != tcbInfoIDs[tee] {
		return nil, colErr("TCB info id %q version %d; want %s version 3 (PCS API v4)", ti.ID, ti.Version, tcbInfoIDs[tee])
	}
	if err := current(ti.IssueDate, ti.NextUpdate, now, "TCB info"); err != nil {
		return nil, err
	}
	out.Freshness = append(out.Freshness, attest.Freshness{Name: "tcb_info", Issued: ti.IssueDate, NextUpdate: ti.NextUpdate})
	if !strings.EqualFold(ti.Fmspc, fmspc) {
		return nil, colErr("TCB info is for FMSPC %s, the PCK certificate's is %s: give the collateral of this platform", ti.Fmspc, fmspc)
	}
	if !strings.EqualFold(ti.PceID, pceID) {
		return nil, colErr("TCB info is for PCE ID %s, the PCK certificate's is %s", ti.PceID, pceID)
	}
	// QE identity: signed by Intel, current.
	if signer, err = verifyIssuer(c.QEIdentityIssuerChain, root, rootCRL, now, "QE identity"); err != nil {
		return nil, err
	}
	if body, sig, err = signedBody(c.QEIdentity, "enclaveIdentity", c.QEIdentitySignature); err != nil {
		return nil, err
	}
	if !checkSig(signer, body, sig) {
		return nil, colErr("QE identity signature does not verify with %q", signer.Subject.CommonName)
	}
	qi := &out.QEIdentity
	if err := json.Unmarshal(body, qi); err != nil {
		return nil, colErr("QE identity: %v", err)
	}
	if qi.Version != 2 || qi.ID != qeIDs[tee] {
		return nil, colErr("QE identity id %q version %d; want %s version 2", qi.ID, qi.Version, qeIDs[tee])
	}
	if err := current(qi.IssueDate, qi.NextUpdate, now, "QE identity"); err != nil {
		return nil, err
	}
	out.Freshness = append(out.Freshness, attest.Freshness{Name: "qe_identity", Issued: qi.IssueDate, NextUpdate: qi.NextUpdate})
	if rootCRL == nil {
		return out, nil
	}
	if err := c.checkCRLs(rootCRL, pckCRL, root, pck, pckCA, now); err != nil {
		return nil, err
	}
	out.CRLsChecked = true
	return out, nil
}

// checkCRLs checks the CRLs and the revocation of the PCK chain.
func (c *Collateral) checkCRLs(rootCRL, pckCRL *x509.RevocationList, root, pck, pckCA *x509.Certificate, now time.Time) error {
	if pck == nil || pckCA == nil {
		return colErr("no PCK certificate and CA to check the CRLs against")
	}
	if err := rootCRL.CheckSignatureFrom(root); err != nil {
		return colErr("root CA CRL is not signed by Intel's root: %v", err)
	}
	if !bytes.Equal(pckCRL.RawIssuer, pck.RawIssuer) || !bytes.Equal(pckCA.RawSubject, pck.RawIssuer) {
		return colErr("PCK CRL is issued by %q, the PCK certificate by %q: give the CRL of the PCK's CA", pckCRL.Issuer, pck.Issuer)
	}
	if err := pckCRL.CheckSignatureFrom(pckCA); err != nil {
		return colErr("PCK CRL is not signed by %s: %v", pckCA.Subject.CommonName, err)
	}
	if c.PCKCRLIssuerChain != "" {
		signer, err := verifyIssuer(c.PCKCRLIssuerChain, root, rootCRL, now, "PCK CRL")
		if err != nil {
			return err
		}
		if !bytes.Equal(signer.RawSubject, pck.RawIssuer) {
			return colErr("pck_crl_issuer_chain names %q, the PCK certificate's issuer is %q", signer.Subject, pck.Issuer)
		}
		if err := pckCRL.CheckSignatureFrom(signer); err != nil {
			return colErr("PCK CRL is not signed by its issuer chain's first certificate: %v", err)
		}
	}
	for _, l := range []struct {
		name string
		crl  *x509.RevocationList
	}{{"root CA CRL", rootCRL}, {"PCK CRL", pckCRL}} {
		if now.Before(l.crl.ThisUpdate) || (!l.crl.NextUpdate.IsZero() && now.After(l.crl.NextUpdate)) {
			return colErr("%s is valid %s to %s, not at %s: fetch current collateral", l.name,
				l.crl.ThisUpdate.UTC().Format(time.RFC3339), l.crl.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	if isRevoked(pckCRL, pck) {
		return revoked("the PCK CRL revokes %q (serial %x)", pck.Subject.CommonName, pck.SerialNumber)
	}
	if isRevoked(rootCRL, pckCA) {
		return revoked("the root CA CRL revokes the PCK CA %q (serial %x)", pckCA.Subject.CommonName, pckCA.SerialNumber)
	}
	return nil
}

// parseCRL reads a CRL given as hex DER or PEM.
func parseCRL(field, what string) (*x509.RevocationList, error) {
	der, err := hex.DecodeString(strings.TrimSpace(field))
	if err != nil {
		blk, _ := pem.Decode([]byte(field))
		if blk == nil {
			return nil, colErr("%s is neither hex DER nor PEM", what)
		}
		der = blk.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, colErr("%s: %v", what, err)
	}
	return crl, nil
}

// signedBody separates the signed JSON object named key from its
// signature: text is either the PCS response {"<key>": {…},
// "signature": "…"} or the object itself, sigHex then giving the
// signature. A signature given both ways must be the same.
func signedBody(text, key, sigHex string) (body, sig []byte, err error) {
	var wrapped map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &wrapped); err != nil {
		return nil, nil, colErr("%s is not JSON: %v", key, err)
	}
	if inner, ok := wrapped[key]; ok {
		body = inner
		if raw, ok := wrapped["signature"]; ok {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, nil, colErr("%s signature is not a string", key)
			}
			if sigHex != "" && !strings.EqualFold(s, sigHex) {
				return nil, nil, colErr("%s signature given apart differs from the one in its response", key)
			}
			sigHex = s
		}
	} else {
		body = []byte(text)
	}
	if sigHex == "" {
		return nil, nil, colErr("%s has no signature", key)
	}
	if sig, err = hex.DecodeString(sigHex); err != nil || len(sig) != 64 {
		return nil, nil, colErr("%s signature must be 64 bytes of hex", key)
	}
	return body, sig, nil
}

// verifyIssuer checks a PEM issuer chain (signer first, at most three
// certificates) to root at now, and that no certificate of it is on
// rootCRL (if given), and returns the signer.
func verifyIssuer(chainPEM string, root *x509.Certificate, rootCRL *x509.RevocationList, now time.Time, what string) (*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(chainPEM)
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, colErr("%s issuer chain: %v", what, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 || len(certs) > 3 {
		return nil, colErr("%s issuer chain has %d PEM certificates, want 1 to 3", what, len(certs))
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		if !c.Equal(root) {
			inter.AddCert(c)
		}
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, colErr("%s issuer chain does not verify to Intel's root at %s: %v", what, now.UTC().Format(time.RFC3339), err)
	}
	if _, ok := certs[0].PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, colErr("%s signer key is not ECDSA", what)
	}
	if rootCRL != nil {
		for _, c := range certs {
			if !c.Equal(root) && isRevoked(rootCRL, c) {
				return nil, revoked("the root CA CRL revokes %q of the %s issuer chain", c.Subject.CommonName, what)
			}
		}
	}
	return certs[0], nil
}

func current(issue, next, now time.Time, what string) error {
	if now.Before(issue) {
		return colErr("%s issued %s, after the verification time", what, issue.UTC().Format(time.RFC3339))
	}
	if now.After(next) {
		return colErr("%s expired at %s (nextUpdate); fetch current collateral", what, next.UTC().Format(time.RFC3339))
	}
	return nil
}

func isRevoked(l *x509.RevocationList, cert *x509.Certificate) bool {
	for _, e := range l.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return true
		}
	}
	return false
}

// checkSig verifies an ECDSA P-256 signature (r ‖ s, 32 bytes each) by
// signer over SHA-256 of signed.
func checkSig(signer *x509.Certificate, signed, sig []byte) bool {
	pub, ok := signer.PublicKey.(*ecdsa.PublicKey)
	if !ok || len(sig) != 64 {
		return false
	}
	h := sha256.Sum256(signed)
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}
