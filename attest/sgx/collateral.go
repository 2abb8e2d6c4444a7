package sgx

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/truce-project/truce/attest/dcap"
)

// MaxCollateralSize bounds the collateral the verifier parses.
const MaxCollateralSize = dcap.MaxCollateralSize

// Collateral is Intel's quote-verification collateral, in the one-file
// JSON layout of dcap.Collateral, which the TDX verifier reads too: PEM
// issuer chains, hex DER CRLs, and the TCB info and QE identity as the
// JSON text Intel's PCS serves (or the signed objects alone, their
// signatures apart). The CRL fields are optional; when present they are
// checked.
type Collateral = dcap.Collateral

// colWrap makes an error of dcap's an SGX one: a revocation is ErrChain,
// anything else ErrCollateral.
func colWrap(err error) error {
	if errors.Is(err, dcap.ErrRevoked) {
		return fmt.Errorf("%w: %w", ErrChain, err)
	}
	return fmt.Errorf("%w: %w", ErrCollateral, err)
}

func colErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCollateral}, args...)...)
}

// ParseCollateral decodes the collateral JSON strictly (see
// dcap.ParseCollateral); the checks happen when a quote is verified
// against it.
func ParseCollateral(b []byte) (*Collateral, error) {
	c, err := dcap.ParseCollateral(b)
	if err != nil {
		return nil, colWrap(err)
	}
	return c, nil
}

const statusRevoked = "Revoked"

// checkCollateral verifies c (dcap.Collateral.Check) and the quote in res
// against it: the platform's TCB level and the quoting enclave's identity.
func checkCollateral(c *Collateral, res *Result, root *x509.Certificate, now time.Time) error {
	q := res.Quote
	var pckCA *x509.Certificate
	if len(q.PCKChain) > 1 {
		pckCA = q.PCKChain[1]
	}
	ck, err := c.Check(dcap.SGX, root, q.PCKChain[0], pckCA, res.PCK.FMSPC, res.PCK.PCEID, false, now)
	if err != nil {
		return colWrap(err)
	}
	res.Collateral = append(res.Collateral, ck.Freshness...)
	ti, id := &ck.TCBInfo, &ck.QEIdentity
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
	// The quoting enclave: the one Intel's QE identity names.
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
	res.CRLsChecked = ck.CRLsChecked
	return nil
}
