package tdx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/pcs"
	pb "github.com/google/go-tdx-guest/proto/tdx"

	"github.com/truce-project/truce/attest"
)

// Collateral is Intel's quote-verification collateral for one platform,
// read from one JSON file whose fields are those of Intel's
// sgx_ql_qve_collateral_t, as Intel's quote-verification libraries and
// caching services hand them out:
//
//	{
//	  "pck_crl_issuer_chain":     "PEM: PCK Platform/Processor CA, Root CA",
//	  "root_ca_crl":              "the Root CA's CRL",
//	  "pck_crl":                  "the PCK CA's CRL",
//	  "tcb_info_issuer_chain":    "PEM: TCB Signing, Root CA",
//	  "tcb_info":                 "{\"tcbInfo\":{…},\"signature\":\"…\"} as Intel's PCS served it",
//	  "qe_identity_issuer_chain": "PEM: TCB Signing, Root CA",
//	  "qe_identity":              "{\"enclaveIdentity\":{…},\"signature\":\"…\"}"
//	}
//
// Field names match case-insensitively and with or without underscores
// (so pckCrlIssuerChain works too). Issuer chains are PEM, URL-escaped PEM
// (as in PCS response headers) also accepted. CRLs are DER as hex or
// base64, or PEM. tcb_info and qe_identity are the PCS response bodies,
// as a JSON string or inline (inline only if the file keeps the signed
// bytes exactly as Intel served them); or, as the SGX verifier also takes
// them, the signed tcbInfo and enclaveIdentity objects alone with their
// signatures in tcb_info_signature and qe_identity_signature (hex). Other
// fields (version, tee_type) are ignored. Unlike for SGX, the two CRLs are
// required: a TD's PCK certificate is always checked for revocation.
type Collateral struct {
	// PCKCRLIssuerChain certifies the PCK CRL's signer, signer first.
	PCKCRLIssuerChain []*x509.Certificate
	// RootCACRL is the Intel SGX Root CA's CRL.
	RootCACRL *x509.RevocationList
	// PCKCRL is the CRL of the CA that issued the PCK certificate.
	PCKCRL *x509.RevocationList
	// TCBInfoIssuerChain certifies the TCB info's signer, signer first.
	TCBInfoIssuerChain []*x509.Certificate
	// TCBInfoBody is the PCS TCB info response, byte for byte, or the
	// signed tcbInfo object alone.
	TCBInfoBody []byte
	// TCBInfoSignature is the TCB info's signature, hex, when given apart
	// (tcb_info_signature); empty when it is inside TCBInfoBody.
	TCBInfoSignature string
	// QEIdentityIssuerChain certifies the QE identity's signer.
	QEIdentityIssuerChain []*x509.Certificate
	// QEIdentityBody is the PCS QE identity response, byte for byte, or
	// the signed enclaveIdentity object alone.
	QEIdentityBody []byte
	// QEIdentitySignature is the QE identity's signature, hex, when given
	// apart (qe_identity_signature).
	QEIdentitySignature string
}

// MaxCollateralSize bounds the collateral file the verifier parses.
const MaxCollateralSize = 1 << 20

func colErr(format string, args ...any) error {
	return badKind(ErrCollateral, format, args...)
}

// ParseCollateral reads collateral in the one-file JSON layout. It checks
// only the form; Verify checks signatures, dates and contents.
func ParseCollateral(b []byte) (*Collateral, error) {
	if len(b) > MaxCollateralSize {
		return nil, colErr("collateral is %d bytes, more than %d", len(b), MaxCollateralSize)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, colErr("not a JSON object: %v (give Intel's quote-verification collateral as one JSON file)", err)
	}
	fields := map[string]json.RawMessage{}
	for k, v := range raw {
		fields[strings.ReplaceAll(strings.ToLower(k), "_", "")] = v
	}
	str := func(name string) (string, error) {
		v, ok := fields[strings.ReplaceAll(name, "_", "")]
		if !ok {
			return "", colErr("field %s missing", name)
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", colErr("field %s is not a string", name)
		}
		return s, nil
	}
	body := func(name string) ([]byte, error) {
		v, ok := fields[strings.ReplaceAll(name, "_", "")]
		if !ok {
			return nil, colErr("field %s missing", name)
		}
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '{' {
			return v, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, colErr("field %s is neither a JSON object nor a string", name)
		}
		return []byte(s), nil
	}
	chain := func(name string) ([]*x509.Certificate, error) {
		s, err := str(name)
		if err != nil {
			return nil, err
		}
		if strings.Contains(s, "%") {
			if u, err := url.QueryUnescape(s); err == nil {
				s = u
			}
		}
		var out []*x509.Certificate
		rest := []byte(s)
		for {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, colErr("%s: %v", name, err)
			}
			out = append(out, c)
		}
		if len(out) == 0 {
			return nil, colErr("%s holds no PEM certificate", name)
		}
		return out, nil
	}
	crl := func(name string) (*x509.RevocationList, error) {
		s, err := str(name)
		if err != nil {
			return nil, err
		}
		der := decodeDER(s)
		if der == nil {
			return nil, colErr("%s is not a CRL in hex, base64 or PEM", name)
		}
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, colErr("%s: %v", name, err)
		}
		return l, nil
	}
	c := &Collateral{}
	var err error
	if c.PCKCRLIssuerChain, err = chain("pck_crl_issuer_chain"); err != nil {
		return nil, err
	}
	if c.RootCACRL, err = crl("root_ca_crl"); err != nil {
		return nil, err
	}
	if c.PCKCRL, err = crl("pck_crl"); err != nil {
		return nil, err
	}
	if c.TCBInfoIssuerChain, err = chain("tcb_info_issuer_chain"); err != nil {
		return nil, err
	}
	if c.TCBInfoBody, err = body("tcb_info"); err != nil {
		return nil, err
	}
	if c.QEIdentityIssuerChain, err = chain("qe_identity_issuer_chain"); err != nil {
		return nil, err
	}
	if c.QEIdentityBody, err = body("qe_identity"); err != nil {
		return nil, err
	}
	optional := func(name string) (string, error) {
		if _, ok := fields[strings.ReplaceAll(name, "_", "")]; !ok {
			return "", nil
		}
		return str(name)
	}
	if c.TCBInfoSignature, err = optional("tcb_info_signature"); err != nil {
		return nil, err
	}
	if c.QEIdentitySignature, err = optional("qe_identity_signature"); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeDER returns the DER that s spells as PEM, hex or base64, or nil.
func decodeDER(s string) []byte {
	s = strings.TrimSpace(s)
	if b, _ := pem.Decode([]byte(s)); b != nil {
		return b.Bytes
	}
	t := strings.Join(strings.Fields(s), "")
	if d, err := hex.DecodeString(t); err == nil && len(d) > 0 {
		return d
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(t); err == nil && len(d) > 0 {
			return d
		}
	}
	return nil
}

// signedBody splits a PCS response body {"<key>":{…},"signature":"hex"}
// into the exact bytes signed and the signature; a body that is the signed
// object alone takes its signature from apart (hex). A signature given
// both ways must be the same.
func signedBody(body []byte, key, apart string) (signed, sig []byte, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, nil, colErr("%s is not JSON: %v", key, err)
	}
	hexSig := apart
	if inner, ok := m[key]; ok {
		signed = inner
		var s string
		if raw, ok := m["signature"]; ok {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, nil, colErr("%s signature is not a string", key)
			}
			if apart != "" && !strings.EqualFold(s, apart) {
				return nil, nil, colErr("%s signature given apart differs from the one in the response", key)
			}
			hexSig = s
		}
	} else {
		signed = body
	}
	if hexSig == "" {
		return nil, nil, colErr("%s has no signature", key)
	}
	if sig, err = hex.DecodeString(hexSig); err != nil || len(sig) != 64 {
		return nil, nil, colErr("%s signature is not 64 bytes of hex", key)
	}
	return signed, sig, nil
}

// verifyChain checks that chain[0] chains to the built-in root at now, is
// not revoked by the root CA CRL, and returns it.
func (c *Collateral) verifyChain(name string, chain []*x509.Certificate, now time.Time) (*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots(), Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, colErr("%s does not chain to Intel's SGX Root CA at %s: %v", name, now.UTC().Format(time.RFC3339), err)
	}
	if isRevoked(c.RootCACRL, chain[0]) {
		return nil, badKind(ErrRevoked, "%s signer %q is on the root CA CRL", name, chain[0].Subject.CommonName)
	}
	return chain[0], nil
}

func isRevoked(l *x509.RevocationList, cert *x509.Certificate) bool {
	for _, e := range l.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return true
		}
	}
	return false
}

func checkSig(signer *x509.Certificate, signed, sig []byte) bool {
	pub, ok := signer.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return false
	}
	h := sha256.Sum256(signed)
	return ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// acceptable says whether a TCB status is one the verifier accepts: the
// platform is patched; it may still need configuration or software
// hardening, which the status reports in Details.
func acceptable(s pcs.TcbComponentStatus) bool {
	switch s {
	case pcs.TcbComponentStatusUpToDate, pcs.TcbComponentStatusSwHardeningNeeded,
		pcs.TcbComponentStatusConfigurationNeeded, pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded:
		return true
	}
	return false
}

// check verifies the collateral and the quote against it, returning the
// details to report.
func (c *Collateral) check(q *pb.QuoteV4, pck *pckChain, exts *pcs.PckExtensions, now time.Time) (map[string]string, []attest.Freshness, error) {
	// CRLs: the root CA's, signed by the root; the PCK CA's, signed by the
	// PCK certificate's issuer; both current.
	if err := c.RootCACRL.CheckSignatureFrom(rootCert); err != nil {
		return nil, nil, colErr("root CA CRL is not signed by Intel's SGX Root CA: %v", err)
	}
	pckCRLSigner, err := c.verifyChain("pck_crl_issuer_chain", c.PCKCRLIssuerChain, now)
	if err != nil {
		return nil, nil, err
	}
	if err := c.PCKCRL.CheckSignatureFrom(pckCRLSigner); err != nil {
		return nil, nil, colErr("PCK CRL is not signed by its issuer chain's first certificate: %v", err)
	}
	if !bytes.Equal(c.PCKCRL.RawIssuer, pck.leaf.RawIssuer) || !bytes.Equal(pckCRLSigner.RawSubject, pck.leaf.RawIssuer) {
		return nil, nil, colErr("PCK CRL is issued by %q, the PCK certificate by %q: give the CRL of the PCK's CA", c.PCKCRL.Issuer, pck.leaf.Issuer)
	}
	for name, l := range map[string]*x509.RevocationList{"root CA CRL": c.RootCACRL, "PCK CRL": c.PCKCRL} {
		if now.Before(l.ThisUpdate) || (!l.NextUpdate.IsZero() && now.After(l.NextUpdate)) {
			return nil, nil, colErr("%s is valid %s to %s, not at %s: fetch current collateral", name,
				l.ThisUpdate.UTC().Format(time.RFC3339), l.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
	}
	if isRevoked(c.PCKCRL, pck.leaf) {
		return nil, nil, badKind(ErrRevoked, "PCK certificate serial %x is on the PCK CRL", pck.leaf.SerialNumber)
	}
	if isRevoked(c.RootCACRL, pck.intermediate) {
		return nil, nil, badKind(ErrRevoked, "PCK CA %q is on the root CA CRL", pck.intermediate.Subject.CommonName)
	}

	// TCB info.
	tcbSigner, err := c.verifyChain("tcb_info_issuer_chain", c.TCBInfoIssuerChain, now)
	if err != nil {
		return nil, nil, err
	}
	signed, sig, err := signedBody(c.TCBInfoBody, "tcbInfo", c.TCBInfoSignature)
	if err != nil {
		return nil, nil, err
	}
	if !checkSig(tcbSigner, signed, sig) {
		return nil, nil, colErr("tcb_info signature does not verify with %q", tcbSigner.Subject.CommonName)
	}
	var ti pcs.TcbInfo
	if err := json.Unmarshal(signed, &ti); err != nil {
		return nil, nil, colErr("tcb_info: %v", err)
	}
	if ti.ID != "TDX" || ti.Version != 3 {
		return nil, nil, colErr("tcb_info is %q version %d, want TDX version 3", ti.ID, ti.Version)
	}
	fresh := []attest.Freshness{{Name: "tcb_info", Issued: ti.IssueDate, NextUpdate: ti.NextUpdate}}
	if now.Before(ti.IssueDate) || now.After(ti.NextUpdate) {
		return nil, nil, colErr("tcb_info is valid %s to %s, not at %s: fetch current collateral",
			ti.IssueDate.UTC().Format(time.RFC3339), ti.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if !strings.EqualFold(ti.Fmspc, exts.FMSPC) {
		return nil, nil, colErr("tcb_info is for FMSPC %s, the PCK certificate's is %s: give the collateral of this platform", ti.Fmspc, exts.FMSPC)
	}
	if !strings.EqualFold(ti.PceID, exts.PCEID) {
		return nil, nil, colErr("tcb_info is for PCE ID %s, the PCK certificate's is %s", ti.PceID, exts.PCEID)
	}
	// QE identity.
	qeSigner, err := c.verifyChain("qe_identity_issuer_chain", c.QEIdentityIssuerChain, now)
	if err != nil {
		return nil, nil, err
	}
	qsigned, qsig, err := signedBody(c.QEIdentityBody, "enclaveIdentity", c.QEIdentitySignature)
	if err != nil {
		return nil, nil, err
	}
	if !checkSig(qeSigner, qsigned, qsig) {
		return nil, nil, colErr("qe_identity signature does not verify with %q", qeSigner.Subject.CommonName)
	}
	var qi pcs.EnclaveIdentity
	if err := json.Unmarshal(qsigned, &qi); err != nil {
		return nil, nil, colErr("qe_identity: %v", err)
	}
	if qi.ID != "TD_QE" || qi.Version != 2 {
		return nil, nil, colErr("qe_identity is %q version %d, want TD_QE version 2", qi.ID, qi.Version)
	}
	fresh = append(fresh, attest.Freshness{Name: "qe_identity", Issued: qi.IssueDate, NextUpdate: qi.NextUpdate})
	if now.Before(qi.IssueDate) || now.After(qi.NextUpdate) {
		return nil, nil, colErr("qe_identity is valid %s to %s, not at %s: fetch current collateral",
			qi.IssueDate.UTC().Format(time.RFC3339), qi.NextUpdate.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	qe := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport()
	var misc [4]byte
	misc[0], misc[1], misc[2], misc[3] = byte(qe.GetMiscSelect()), byte(qe.GetMiscSelect()>>8), byte(qe.GetMiscSelect()>>16), byte(qe.GetMiscSelect()>>24)
	switch {
	case len(qi.MiscselectMask.Bytes) != 4 || !bytes.Equal(mask(misc[:], qi.MiscselectMask.Bytes), qi.Miscselect.Bytes):
		return nil, nil, badKind(ErrTCB, "QE MISCSELECT %x does not match qe_identity", misc)
	case len(qi.AttributesMask.Bytes) != len(qe.GetAttributes()) || !bytes.Equal(mask(qe.GetAttributes(), qi.AttributesMask.Bytes), qi.Attributes.Bytes):
		return nil, nil, badKind(ErrTCB, "QE attributes %x do not match qe_identity", qe.GetAttributes())
	case !bytes.Equal(qe.GetMrSigner(), qi.Mrsigner.Bytes):
		return nil, nil, badKind(ErrTCB, "QE MRSIGNER %x is not Intel's %x", qe.GetMrSigner(), qi.Mrsigner.Bytes)
	case qe.GetIsvProdId() != uint32(qi.IsvProdID):
		return nil, nil, badKind(ErrTCB, "QE ISVPRODID %d is not %d", qe.GetIsvProdId(), qi.IsvProdID)
	}
	var qst pcs.TcbComponentStatus
	for _, l := range qi.TcbLevels {
		if l.Tcb.Isvsvn <= qe.GetIsvSvn() {
			qst = l.TcbStatus
			break
		}
	}
	qeStatus := string(qst)
	if qst != pcs.TcbComponentStatusUpToDate {
		return nil, nil, badKind(ErrTCB, "quoting enclave ISVSVN %d has TCB status %q: update the platform's quoting enclave", qe.GetIsvSvn(), qst)
	}
	body := q.GetTdQuoteBody()
	if !bytes.Equal(ti.TdxModule.Mrsigner.Bytes, body.GetMrSignerSeam()) {
		return nil, nil, badKind(ErrTCB, "MRSIGNERSEAM %x is not the TDX module signer %x in tcb_info", body.GetMrSignerSeam(), ti.TdxModule.Mrsigner.Bytes)
	}
	if sa := body.GetSeamAttributes(); len(ti.TdxModule.AttributesMask.Bytes) != len(sa) || !bytes.Equal(mask(sa, ti.TdxModule.AttributesMask.Bytes), ti.TdxModule.Attributes.Bytes) {
		return nil, nil, badKind(ErrTCB, "SEAM attributes %x do not match tcb_info's TDX module attributes", sa)
	}
	level, err := matchLevel(ti.TcbLevels, exts, body.GetTeeTcbSvn())
	if err != nil {
		return nil, nil, err
	}
	out := map[string]string{
		"tcb_status":                 string(level.TcbStatus),
		"tcb_date":                   level.TcbDate,
		"tcb_evaluation_data_number": fmt.Sprint(ti.TcbEvaluationDataNumber),
		"qe_tcb_status":              qeStatus,
	}
	if len(level.AdvisoryIDs) > 0 {
		out["advisory_ids"] = strings.Join(level.AdvisoryIDs, ",")
	}
	if !acceptable(level.TcbStatus) {
		return nil, nil, badKind(ErrTCB, "platform TCB status is %s (TCB date %s): update the platform's firmware and microcode", level.TcbStatus, level.TcbDate)
	}
	if svn := body.GetTeeTcbSvn(); svn[1] > 0 {
		id := fmt.Sprintf("TDX_%02X", svn[1])
		var found *pcs.TdxModuleIdentity
		for i := range ti.TdxModuleIdentities {
			if strings.EqualFold(ti.TdxModuleIdentities[i].ID, id) {
				found = &ti.TdxModuleIdentities[i]
			}
		}
		if found == nil {
			return nil, nil, badKind(ErrTCB, "tcb_info lists no TDX module identity %s", id)
		}
		var st pcs.TcbComponentStatus
		for _, l := range found.TcbLevels {
			if uint32(svn[0]) >= l.Tcb.Isvsvn {
				st = l.TcbStatus
				break
			}
		}
		out["tdx_module_tcb_status"] = string(st)
		if !acceptable(st) {
			return nil, nil, badKind(ErrTCB, "TDX module %s at SVN %d has TCB status %q: update the TDX module", id, svn[0], st)
		}
	}

	return out, fresh, nil
}

func mask(v, m []byte) []byte {
	out := make([]byte, len(v))
	for i := range v {
		if i < len(m) {
			out[i] = v[i] & m[i]
		}
	}
	return out
}

// matchLevel returns the first TCB level (Intel lists them newest first)
// that the PCK certificate's SGX components and PCE SVN, and the quote's
// TEE TCB SVN, all meet.
func matchLevel(levels []pcs.TcbLevel, exts *pcs.PckExtensions, tee []byte) (pcs.TcbLevel, error) {
	for _, l := range levels {
		if len(l.Tcb.SgxTcbcomponents) != len(exts.TCB.CPUSvnComponents) || len(l.Tcb.TdxTcbcomponents) != len(tee) || len(tee) < 2 {
			continue
		}
		ok := exts.TCB.PCESvn >= l.Tcb.Pcesvn
		for i, comp := range l.Tcb.SgxTcbcomponents {
			ok = ok && exts.TCB.CPUSvnComponents[i] >= comp.Svn
		}
		start := 0
		if tee[1] > 0 {
			// With a TDX module identity, its SVNs are checked apart.
			start = 2
		}
		for i := start; i < len(tee); i++ {
			ok = ok && tee[i] >= l.Tcb.TdxTcbcomponents[i].Svn
		}
		if ok {
			return l, nil
		}
	}
	return pcs.TcbLevel{}, badKind(ErrTCB, "no TCB level in tcb_info is met by this platform (TEE TCB SVN %x, PCE SVN %d): its TCB is older than any Intel lists, or the collateral is for another platform", tee, exts.TCB.PCESvn)
}
