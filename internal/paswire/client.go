package paswire

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Client talks to an attestation service.
type Client struct {
	// URL is the service's base URL, such as https://127.0.0.1:3010.
	URL string
	// CA is the service's CA certificate, used to check its TLS
	// certificate; nil means the system roots.
	CA *x509.Certificate
	// HTTP is the HTTP client; nil means one made from CA with a
	// 30-second timeout.
	HTTP *http.Client
	// Credential, if set, authenticates the host (see AddHost): it is
	// sent as a bearer token, and the service then serves the host from
	// the share of nonces it keeps for authenticated hosts.
	Credential string

	once sync.Once
	def  *http.Client
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	c.once.Do(func() { c.def = c.defaultHTTP() })
	return c.def
}

func (c *Client) defaultHTTP() *http.Client {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if c.CA != nil {
		pool := x509.NewCertPool()
		pool.AddCert(c.CA)
		cfg.RootCAs = pool
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: cfg, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64,
	}}
}

const maxResponse = 1 << 20

func (c *Client) do(ctx context.Context, method, path string, body any) ([]byte, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, "", fmt.Errorf("encoding the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, rd)
	if err != nil {
		return nil, "", fmt.Errorf("attestation service URL %q: %w", c.URL, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Credential != "" {
		req.Header.Set("Authorization", "Bearer "+c.Credential)
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %s %s: %v", ErrUnreachable, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, "", fmt.Errorf("%w: reading the answer to %s %s: %v", ErrUnreachable, method, path, err)
	}
	if len(b) > maxResponse {
		return nil, "", fmt.Errorf("%w: answer to %s %s is over %d bytes", ErrService, method, path, maxResponse)
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK {
		var p ProblemError
		if ct == "application/problem+json" && json.Unmarshal(b, &p) == nil && p.Type != "" {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s <= 24*3600 {
				p.RetryAfter = time.Duration(s) * time.Second
			}
			return nil, "", &p
		}
		return nil, "", fmt.Errorf("%w: %s %s: HTTP %s", ErrService, method, path, resp.Status)
	}
	return b, ct, nil
}

// ErrUnreachable: the service could not be reached (network, TLS).
var ErrUnreachable = errors.New("attestation service unreachable")

// Nonce asks the service for a fresh single-use nonce.
func (c *Client) Nonce(ctx context.Context) ([]byte, error) {
	b, _, err := c.do(ctx, http.MethodPost, "/v1/nonce", nil)
	if err != nil {
		return nil, err
	}
	var nr NonceResponse
	if err := json.Unmarshal(b, &nr); err != nil || len(nr.Nonce) != NonceSize {
		return nil, fmt.Errorf("%w: malformed nonce answer", ErrService)
	}
	return nr.Nonce, nil
}

// Attest sends evidence and CSR and returns the issued chain, leaf first.
// Refusals are *ProblemError values wrapping this package's or package
// attest's sentinels (attest.ErrBadEvidence, attest.ErrBinding, …). The
// leaf is checked to certify the CSR's key.
func (c *Client) Attest(ctx context.Context, req AttestRequest) ([]*x509.Certificate, error) {
	b, _, err := c.do(ctx, http.MethodPost, "/v1/attest", req)
	if err != nil {
		return nil, err
	}
	chain, err := ParseChainPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrService, err)
	}
	if csr, err := x509.ParseCertificateRequest(req.CSR); err == nil &&
		!bytes.Equal(csr.RawSubjectPublicKeyInfo, chain[0].RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("%w: the issued certificate is not for the CSR's key", ErrService)
	}
	return chain, nil
}

// CACert fetches the service's CA certificate. Over TLS checked with the
// system roots this proves little: pin the CA from a trusted copy instead.
func (c *Client) CACert(ctx context.Context) (*x509.Certificate, error) {
	b, _, err := c.do(ctx, http.MethodGet, "/v1/ca", nil)
	if err != nil {
		return nil, err
	}
	chain, err := ParseChainPEM(b)
	if err != nil || len(chain) != 1 {
		return nil, fmt.Errorf("%w: malformed CA answer", ErrService)
	}
	return chain[0], nil
}

// ParseChainPEM parses one or more PEM certificates, nothing else.
func ParseChainPEM(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q in a certificate chain", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing a chain certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(bytes.TrimSpace(b)) != 0 {
		return nil, errors.New("data after the certificates")
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}
