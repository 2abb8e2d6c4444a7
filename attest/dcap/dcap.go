// Package dcap fetches Intel's quote-verification collateral for SGX and
// TDX quotes (Intel DCAP: the PCK CA's and the root CA's CRLs, the TCB
// info for a platform's FMSPC and the quoting enclave's identity, each
// with its issuer chain) from Intel's Provisioning Certification Service,
// and assembles it into the one-file JSON layout (Collateral) the
// verifiers in attest/sgx and attest/tdx read.
//
// It must never judge what it fetches: Check verifies every signature,
// chain, CRL and validity date of fetched collateral exactly as of
// collateral given in a file. It must never build a URL from input it
// has not checked to be an FMSPC or a CA name.
//
// It also holds the one Collateral type both verifiers read, strictly, and
// its check (Collateral.Check: issuer chains, signatures, dates, CRLs and
// revocation); what a TCB level or a quoting enclave's identity means for
// a quote stays with each verifier.
package dcap

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Getter gets a URL's document: PCSGetter upstream, or a cache in front
// of it (such as the attestation service's pas.CollateralCache), which
// keeps each document as PCSGetter returned it.
type Getter interface {
	Get(url string) ([]byte, error)
}

// Response is one PCS response as PCSGetter returns it, JSON-encoded: the
// body, and the issuer chain Intel sends in a response header
// (URL-unescaped PEM, signer first), which a cache must keep with it.
type Response struct {
	// IssuerChain is the PEM issuer chain; empty for the root CA CRL,
	// which Intel's root signs.
	IssuerChain string `json:"issuer_chain,omitempty"`
	// Body is the response body, byte for byte.
	Body []byte `json:"body"`
}

// MaxResponseBytes bounds one response body.
const MaxResponseBytes = 512 << 10

// Intel's PCS (API v4) and its root CA CRL.
const (
	PCSBase    = "https://api.trustedservices.intel.com"
	RootCRLURL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
)

// TEE names the kind of quote collateral is for: its TCB info and QE
// identity differ; the CRLs are shared.
type TEE string

// The TEEs Intel's PCS serves collateral for.
const (
	SGX TEE = "sgx"
	TDX TEE = "tdx"
)

// issuerChainHeaders names, by URL kind, the response header carrying the
// issuer chain.
const (
	pckCRLChainHeader = "SGX-PCK-CRL-Issuer-Chain"
	tcbChainHeader    = "TCB-Info-Issuer-Chain"
	qeChainHeader     = "SGX-Enclave-Identity-Issuer-Chain"
)

// PCKCRLURL is the URL of the CRL of the PCK CA ca ("platform" or
// "processor").
func PCKCRLURL(ca string) string {
	return PCSBase + "/sgx/certification/v4/pckcrl?ca=" + ca + "&encoding=der"
}

// TCBInfoURL is the URL of tee's TCB info for fmspc.
func TCBInfoURL(tee TEE, fmspc string) string {
	return PCSBase + "/" + string(tee) + "/certification/v4/tcb?fmspc=" + fmspc
}

// QEIdentityURL is the URL of tee's quoting enclave identity.
func QEIdentityURL(tee TEE) string {
	return PCSBase + "/" + string(tee) + "/certification/v4/qe/identity"
}

// pcsGetter gets PCS URLs over HTTPS and keeps the issuer chain header.
type pcsGetter struct{ client *http.Client }

// PCSGetter returns a Getter of Intel PCS URLs that returns each response
// as a JSON-encoded Response. A nil client means one with a 20-second
// time limit.
func PCSGetter(client *http.Client) Getter {
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	return pcsGetter{client}
}

func (g pcsGetter) Get(u string) ([]byte, error) {
	resp, err := g.client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	if len(body) > MaxResponseBytes {
		return nil, fmt.Errorf("%s: response larger than %d bytes", u, MaxResponseBytes)
	}
	r := Response{Body: body}
	for _, h := range []string{pckCRLChainHeader, tcbChainHeader, qeChainHeader} {
		if v := resp.Header.Get(h); v != "" {
			if r.IssuerChain, err = url.PathUnescape(v); err != nil {
				return nil, fmt.Errorf("%s: header %s is not URL-escaped PEM: %w", u, h, err)
			}
		}
	}
	// Only the root CA CRL comes without a chain; refusing an answer that
	// is not Intel's (a proxy's error page) keeps it out of a cache.
	if r.IssuerChain == "" && u != RootCRLURL {
		return nil, fmt.Errorf("%s: the response has no issuer chain header; is it Intel's PCS answering?", u)
	}
	return json.Marshal(r)
}

// ErrInput: the FMSPC or CA name is not one a PCS URL may be built from.
var ErrInput = errors.New("not a PCS FMSPC or CA name")

var fmspcRE = regexp.MustCompile(`^[0-9a-fA-F]{12}$`)

// CA returns the PCS name ("platform" or "processor") of the CA that
// issued a PCK certificate, from the issuer's common name (Intel's are
// "Intel SGX PCK Platform CA" and "Intel SGX PCK Processor CA").
func CA(pckIssuer string) (string, error) {
	switch {
	case strings.HasSuffix(pckIssuer, "PCK Platform CA"):
		return "platform", nil
	case strings.HasSuffix(pckIssuer, "PCK Processor CA"):
		return "processor", nil
	}
	return "", fmt.Errorf("%w: PCK issuer %q is neither a platform nor a processor CA", ErrInput, pckIssuer)
}

// Fetch gets the collateral of a tee quote whose PCK certificate names
// fmspc and was issued by ca ("platform" or "processor", see CA) through
// get, and returns it as one collateral JSON document.
func Fetch(get Getter, tee TEE, fmspc, ca string) ([]byte, error) {
	if tee != SGX && tee != TDX {
		return nil, fmt.Errorf("%w: TEE %q", ErrInput, tee)
	}
	if !fmspcRE.MatchString(fmspc) {
		return nil, fmt.Errorf("%w: FMSPC %q is not 6 bytes of hex", ErrInput, fmspc)
	}
	if ca != "platform" && ca != "processor" {
		return nil, fmt.Errorf("%w: CA %q", ErrInput, ca)
	}
	fetch := func(u string, chain bool) (*Response, error) {
		b, err := get.Get(u)
		if err != nil {
			return nil, err
		}
		var r Response
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: not a PCS response as PCSGetter returns it: %w", u, err)
		}
		if chain && r.IssuerChain == "" {
			return nil, fmt.Errorf("%s: the response came without its issuer chain", u)
		}
		return &r, nil
	}
	var c Collateral
	r, err := fetch(RootCRLURL, false)
	if err != nil {
		return nil, err
	}
	c.RootCACRL = hex.EncodeToString(r.Body)
	if r, err = fetch(PCKCRLURL(ca), true); err != nil {
		return nil, err
	}
	c.PCKCRL, c.PCKCRLIssuerChain = hex.EncodeToString(r.Body), r.IssuerChain
	if r, err = fetch(TCBInfoURL(tee, strings.ToLower(fmspc)), true); err != nil {
		return nil, err
	}
	c.TCBInfo, c.TCBInfoIssuerChain = string(r.Body), r.IssuerChain
	if r, err = fetch(QEIdentityURL(tee), true); err != nil {
		return nil, err
	}
	c.QEIdentity, c.QEIdentityIssuerChain = string(r.Body), r.IssuerChain
	return json.Marshal(c)
}
