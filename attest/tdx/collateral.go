package tdx

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/pcs"
	pb "github.com/google/go-tdx-guest/proto/tdx"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/dcap"
)

// Collateral is Intel's quote-verification collateral for one platform,
// in the one-file JSON layout of dcap.Collateral, which the SGX verifier
// reads too, and as strictly: the snake-case field names of Intel's
// sgx_ql_qve_collateral_t, every value a string (tcb_info and qe_identity
// the PCS response bodies, or the signed objects alone with their
// signatures in tcb_info_signature and qe_identity_signature), "version"
// and "tee_type" (which, if given, must be 0x81) as Intel's libraries
// write them. Unlike for SGX, the two CRLs and the PCK CRL's issuer chain
// are required: a TD's PCK certificate is always checked for revocation.
type Collateral = dcap.Collateral

// MaxCollateralSize bounds the collateral file the verifier parses.
const MaxCollateralSize = dcap.MaxCollateralSize

func colErr(format string, args ...any) error {
	return badKind(ErrCollateral, format, args...)
}

// colWrap makes an error of dcap's a TDX one: a revocation is ErrRevoked,
// anything else ErrCollateral.
func colWrap(err error) error {
	kind := ErrCollateral
	if errors.Is(err, dcap.ErrRevoked) {
		kind = ErrRevoked
	}
	return fmt.Errorf("%w: tdx: %w: %w", attest.ErrBadEvidence, kind, err)
}

// ParseCollateral reads collateral in the one-file JSON layout
// (dcap.ParseCollateral) and requires the CRLs and the PCK CRL's issuer
// chain. It checks only the form; Verify checks signatures, dates and
// contents.
func ParseCollateral(b []byte) (*Collateral, error) {
	c, err := dcap.ParseCollateral(b)
	if err != nil {
		return nil, colWrap(err)
	}
	if c.RootCACRL == "" || c.PCKCRL == "" || c.PCKCRLIssuerChain == "" {
		return nil, colErr("root_ca_crl, pck_crl and pck_crl_issuer_chain are required: a TD's PCK certificate is always checked for revocation")
	}
	return c, nil
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

// check verifies the collateral (dcap.Collateral.Check, CRLs required)
// and the quote against it: the quoting enclave's identity, the TDX
// module and the platform's TCB level. It returns the details to report.
func check(c *Collateral, q *pb.QuoteV4, pck *pckChain, exts *pcs.PckExtensions, now time.Time) (map[string]string, []attest.Freshness, error) {
	ck, err := c.Check(dcap.TDX, rootCert, pck.leaf, pck.intermediate, exts.FMSPC, exts.PCEID, true, now)
	if err != nil {
		return nil, nil, colWrap(err)
	}
	ti, qi, fresh := &ck.TCBInfo, &ck.QEIdentity, ck.Freshness
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
