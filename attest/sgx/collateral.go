package sgx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/truce-project/truce/attest"
)

// MaxCollateralSize bounds the collateral the verifier parses.
const MaxCollateralSize = 1 << 20

// Collateral is Intel's quote-verification collateral, in the JSON shape
// of the fields of Intel's QvE collateral (as DCAP verifiers commonly store
// it): PEM issuer chains, hex DER CRLs, and the TCB info and QE identity as
// the JSON text Intel's PCS serves, with their signatures in hex. The CRL
// fields are optional; when present they are checked.
type Collateral struct {
	PCKCRLIssuerChain     string `json:"pck_crl_issuer_chain"`
	RootCACRL             string `json:"root_ca_crl"`
	PCKCRL                string `json:"pck_crl"`
	TCBInfoIssuerChain    string `json:"tcb_info_issuer_chain"`
	TCBInfo               string `json:"tcb_info"`
	TCBInfoSignature      string `json:"tcb_info_signature"`
	QEIdentityIssuerChain string `json:"qe_identity_issuer_chain"`
	QEIdentity            string `json:"qe_identity"`
	QEIdentitySignature   string `json:"qe_identity_signature"`
}

func colErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCollateral}, args...)...)
}

// ParseCollateral decodes the collateral JSON; the checks happen when a
// quote is verified against it.
func ParseCollateral(b []byte) (*Collateral, error) {
	if len(b) > MaxCollateralSize {
		return nil, colErr("%d bytes, more than %d", len(b), MaxCollateralSize)
	}
	var c Collateral
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, colErr("not collateral JSON: %v", err)
	}
	if c.TCBInfo == "" || c.QEIdentity == "" || c.TCBInfoIssuerChain == "" || c.QEIdentityIssuerChain == "" {
		return nil, colErr("tcb_info, qe_identity and their issuer chains are required")
	}
	return &c, nil
}

// signedBody separates the signed JSON object named key from the
// signature: text is either the PCS response {"<key>": {…}, "signature":
// "…"} or the object itself, with sigHex then giving the signature.
func signedBody(text, key, sigHex string) (body []byte, sig []byte, err error) {
	var wrapped map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &wrapped) == nil {
		if inner, ok := wrapped[key]; ok {
			body = inner
			var s string
			if raw, ok := wrapped["signature"]; ok && json.Unmarshal(raw, &s) == nil && sigHex == "" {
				sigHex = s
			} else if ok && json.Unmarshal(raw, &s) == nil && !strings.EqualFold(s, sigHex) {
				return nil, nil, colErr("%s signature differs from the one in its response", key)
			}
		}
	}
	if body == nil {
		body = []byte(text)
	}
	sig, err = hex.DecodeString(sigHex)
	if err != nil || len(sig) != 64 {
		return nil, nil, colErr("%s signature must be 64 bytes of hex", key)
	}
	return body, sig, nil
}

// verifyIssuer checks a PEM issuer chain (signer first) to root at now and
// returns the signer's key.
func verifyIssuer(chainPEM string, root *x509.Certificate, now time.Time, what string) (*ecdsa.PublicKey, *x509.Certificate, error) {
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
			return nil, nil, colErr("%s issuer chain: %v", what, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 || len(certs) > 3 {
		return nil, nil, colErr("%s issuer chain has %d certificates", what, len(certs))
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
		return nil, nil, colErr("%s issuer chain does not verify to the Intel root: %v", what, err)
	}
	k, ok := certs[0].PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, nil, colErr("%s signer key is not ECDSA", what)
	}
	return k, certs[0], nil
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

const statusRevoked = "Revoked"

func (c *Collateral) check(res *Result, root *x509.Certificate, now time.Time) error {
	q := res.Quote
	// TCB info: signed by Intel, current, for this platform.
	key, _, err := verifyIssuer(c.TCBInfoIssuerChain, root, now, "TCB info")
	if err != nil {
		return err
	}
	body, sig, err := signedBody(c.TCBInfo, "tcbInfo", c.TCBInfoSignature)
	if err != nil {
		return err
	}
	if !verifyP256(key, body, sig) {
		return colErr("TCB info signature does not verify with the TCB signing certificate")
	}
	var ti pcs.TcbInfo
	if err := json.Unmarshal(body, &ti); err != nil {
		return colErr("TCB info: %v", err)
	}
	if ti.Version != 3 || ti.ID != "SGX" {
		return colErr("TCB info id %q version %d; want SGX version 3 (PCS API v4)", ti.ID, ti.Version)
	}
	if err := current(ti.IssueDate, ti.NextUpdate, now, "TCB info"); err != nil {
		return err
	}
	res.Collateral = append(res.Collateral, attest.Freshness{Name: "tcb_info", Issued: ti.IssueDate, NextUpdate: ti.NextUpdate})
	if !strings.EqualFold(ti.Fmspc, res.PCK.FMSPC) || !strings.EqualFold(ti.PceID, res.PCK.PCEID) {
		return colErr("TCB info is for FMSPC %s / PCE %s, the PCK certificate for %s / %s", ti.Fmspc, ti.PceID, res.PCK.FMSPC, res.PCK.PCEID)
	}
	res.TCBEvaluation = ti.TcbEvaluationDataNumber
	res.TCBStatus = "Unrecognized"
	comps := res.PCK.TCB.CPUSvnComponents
	for _, lvl := range ti.TcbLevels {
		if len(lvl.Tcb.SgxTcbcomponents) != 16 || len(comps) != 16 {
			return colErr("TCB level with %d components; want 16", len(lvl.Tcb.SgxTcbcomponents))
		}
		ok := res.PCK.TCB.PCESvn >= lvl.Tcb.Pcesvn
		for i := 0; ok && i < 16; i++ {
			ok = comps[i] >= lvl.Tcb.SgxTcbcomponents[i].Svn
		}
		if ok {
			res.TCBStatus = string(lvl.TcbStatus)
			res.Advisories = append(res.Advisories, lvl.AdvisoryIDs...)
			break
		}
	}
	if res.TCBStatus == "Unrecognized" {
		return colErr("the platform's TCB is below every level in the TCB info")
	}
	if res.TCBStatus == statusRevoked {
		return fmt.Errorf("%w: platform TCB", ErrTCBRevoked)
	}
	// QE identity: signed by Intel, current, matching the QE report.
	key, _, err = verifyIssuer(c.QEIdentityIssuerChain, root, now, "QE identity")
	if err != nil {
		return err
	}
	body, sig, err = signedBody(c.QEIdentity, "enclaveIdentity", c.QEIdentitySignature)
	if err != nil {
		return err
	}
	if !verifyP256(key, body, sig) {
		return colErr("QE identity signature does not verify with the TCB signing certificate")
	}
	var id pcs.EnclaveIdentity
	if err := json.Unmarshal(body, &id); err != nil {
		return colErr("QE identity: %v", err)
	}
	if id.ID != "QE" || id.Version != 2 {
		return colErr("QE identity id %q version %d; want QE version 2", id.ID, id.Version)
	}
	if err := current(id.IssueDate, id.NextUpdate, now, "QE identity"); err != nil {
		return err
	}
	res.Collateral = append(res.Collateral, attest.Freshness{Name: "qe_identity", Issued: id.IssueDate, NextUpdate: id.NextUpdate})
	qr := q.QEReport
	if !bytes.Equal(id.Mrsigner.Bytes, qr.MRSIGNER[:]) || id.IsvProdID != qr.ISVProdID {
		return colErr("the quoting enclave (MRSIGNER %x, product %d) is not the one Intel's QE identity names", qr.MRSIGNER, qr.ISVProdID)
	}
	if len(id.Miscselect.Bytes) != 4 || len(id.MiscselectMask.Bytes) != 4 || len(id.Attributes.Bytes) != 16 || len(id.AttributesMask.Bytes) != 16 {
		return colErr("QE identity miscselect or attributes of the wrong size")
	}
	var misc [4]byte
	misc[0], misc[1], misc[2], misc[3] = byte(qr.MiscSelect>>24), byte(qr.MiscSelect>>16), byte(qr.MiscSelect>>8), byte(qr.MiscSelect)
	for i := range 4 {
		if misc[i]&id.MiscselectMask.Bytes[i] != id.Miscselect.Bytes[i] {
			return colErr("QE miscselect %x does not match the QE identity", misc)
		}
	}
	attrs := qr.Attributes()
	for i := range 16 {
		if attrs[i]&id.AttributesMask.Bytes[i] != id.Attributes.Bytes[i] {
			return colErr("QE attributes %x do not match the QE identity", attrs)
		}
	}
	res.QETCBStatus = "Unrecognized"
	for _, lvl := range id.TcbLevels {
		if uint32(qr.ISVSVN) >= lvl.Tcb.Isvsvn {
			res.QETCBStatus = string(lvl.TcbStatus)
			break
		}
	}
	if res.QETCBStatus == "Unrecognized" {
		return colErr("the quoting enclave's ISVSVN %d is below every level in the QE identity", qr.ISVSVN)
	}
	if res.QETCBStatus == statusRevoked {
		return fmt.Errorf("%w: quoting enclave", ErrTCBRevoked)
	}
	return c.checkCRLs(res, root, now)
}

func parseCRL(field, what string) (*x509.RevocationList, error) {
	der, err := hex.DecodeString(strings.TrimSpace(field))
	if err != nil {
		if blk, _ := pem.Decode([]byte(field)); blk != nil {
			der = blk.Bytes
		} else {
			return nil, colErr("%s is neither hex DER nor PEM", what)
		}
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, colErr("%s: %v", what, err)
	}
	return crl, nil
}

func checkCRL(crl *x509.RevocationList, issuer *x509.Certificate, serial *x509.Certificate, now time.Time, what string) error {
	if err := crl.CheckSignatureFrom(issuer); err != nil {
		return colErr("%s is not signed by %s: %v", what, issuer.Subject.CommonName, err)
	}
	if now.Before(crl.ThisUpdate) || (!crl.NextUpdate.IsZero() && now.After(crl.NextUpdate)) {
		return colErr("%s is not current at %s (valid %s to %s)", what, now.UTC().Format(time.RFC3339),
			crl.ThisUpdate.UTC().Format(time.RFC3339), crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(serial.SerialNumber) == 0 {
			return fmt.Errorf("%w: %s revokes %q (serial %x)", ErrChain, what, serial.Subject.CommonName, serial.SerialNumber)
		}
	}
	return nil
}

func (c *Collateral) checkCRLs(res *Result, root *x509.Certificate, now time.Time) error {
	if c.RootCACRL == "" && c.PCKCRL == "" {
		return nil
	}
	if c.RootCACRL == "" || c.PCKCRL == "" {
		return colErr("give both root_ca_crl and pck_crl, or neither")
	}
	chain := res.Quote.PCKChain
	rootCRL, err := parseCRL(c.RootCACRL, "root CA CRL")
	if err != nil {
		return err
	}
	if err := checkCRL(rootCRL, root, chain[1], now, "root CA CRL"); err != nil {
		return err
	}
	pckCRL, err := parseCRL(c.PCKCRL, "PCK CRL")
	if err != nil {
		return err
	}
	if !bytes.Equal(pckCRL.RawIssuer, chain[1].RawSubject) {
		return colErr("PCK CRL is issued by another CA than the quote's PCK intermediate (%s)", chain[1].Subject.CommonName)
	}
	if err := checkCRL(pckCRL, chain[1], chain[0], now, "PCK CRL"); err != nil {
		return err
	}
	res.CRLsChecked = true
	return nil
}
