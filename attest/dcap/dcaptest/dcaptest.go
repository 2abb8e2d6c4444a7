// Package dcaptest is a fake of Intel's PCS for tests: an
// http.RoundTripper that answers PCS URLs from recorded responses, counts
// requests and can be made to fail. It never reaches the network.
package dcaptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/truce-project/truce/attest/dcap"
)

// Response is one recorded PCS response.
type Response struct {
	// IssuerChainHeader names the header carrying IssuerChain.
	IssuerChainHeader string
	// IssuerChain is PEM; it is sent URL-escaped, as Intel sends it.
	IssuerChain string
	Body        []byte
}

// PCS is a fake PCS. Its zero value answers 404 to everything.
type PCS struct {
	mu        sync.Mutex
	responses map[string]Response
	fail      bool
	requests  []string
}

// New returns a fake PCS serving responses by URL.
func New(responses map[string]Response) *PCS { return &PCS{responses: responses} }

// Client returns an HTTP client whose requests this fake answers.
func (p *PCS) Client() *http.Client { return &http.Client{Transport: p} }

// SetFail makes every later request fail (true) or be answered (false).
func (p *PCS) SetFail(fail bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = fail
}

// Requests returns the URLs requested so far, in order.
func (p *PCS) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// RoundTrip answers a request from the recorded responses.
func (p *PCS) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := req.URL.String()
	p.requests = append(p.requests, u)
	resp := &http.Response{Request: req, Header: http.Header{}, StatusCode: http.StatusOK, Status: "200 OK", Body: io.NopCloser(bytes.NewReader(nil))}
	if p.fail {
		resp.StatusCode, resp.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
		return resp, nil
	}
	r, ok := p.responses[u]
	if !ok {
		resp.StatusCode, resp.Status = http.StatusNotFound, "404 Not Found"
		return resp, nil
	}
	if r.IssuerChainHeader != "" {
		// Intel escapes '+' too; QueryEscape's '+' for space would not
		// survive unescaping as a path.
		resp.Header.Set(r.IssuerChainHeader, strings.ReplaceAll(url.QueryEscape(r.IssuerChain), "+", "%20"))
	}
	resp.Body = io.NopCloser(bytes.NewReader(r.Body))
	resp.ContentLength = int64(len(r.Body))
	return resp, nil
}

// TDXSample returns the PCS responses of the production TDX quote in
// attest/tdx/testdata (dir), as Intel published them (see its
// PROVENANCE.md): TCB info for FMSPC 50806f000000, TD QE identity, the PCK
// platform CA's CRL and the root CA's CRL, with their issuer chains.
func TDXSample(dir string) (map[string]Response, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
	var chains struct {
		PCK string `json:"pck_crl_issuer_chain"`
		TCB string `json:"tcb_info_issuer_chain"`
		QE  string `json:"qe_identity_issuer_chain"`
	}
	col, err := read("collateral.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(col, &chains); err != nil {
		return nil, fmt.Errorf("collateral.json: %w", err)
	}
	out := map[string]Response{}
	for _, f := range []struct{ url, file, header, chain string }{
		{dcap.RootCRLURL, "rootcrl.der", "", ""},
		{dcap.PCKCRLURL("platform"), "pckcrl", "SGX-PCK-CRL-Issuer-Chain", chains.PCK},
		{dcap.TCBInfoURL(dcap.TDX, "50806f000000"), "sample_tcbInfo_response", "TCB-Info-Issuer-Chain", chains.TCB},
		{dcap.QEIdentityURL(dcap.TDX), "sample_qeIdentity_response", "SGX-Enclave-Identity-Issuer-Chain", chains.QE},
	} {
		b, err := read(f.file)
		if err != nil {
			return nil, err
		}
		out[f.url] = Response{IssuerChainHeader: f.header, IssuerChain: f.chain, Body: b}
	}
	return out, nil
}
