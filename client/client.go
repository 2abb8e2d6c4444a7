// Package client is the Go SDK of Truce: it dials an enclave through its
// host, checks that the enclave is one the policy trusts, and then reads,
// writes and runs over the enclave's HTTP API inside TLS that ends in the
// enclave.
//
// It must never send a request byte, nor its client certificate, to an
// enclave before attest.CheckEnclave has accepted the enclave's certificate
// chain against the policy, and never trust anything the host says: the
// host only relays bytes.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
	"github.com/truce-project/truce/receipt"
)

// Options tune Dial. The zero value dials the policy's host now.
type Options struct {
	// Addr is the host:port to dial; empty means the policy's Host.
	Addr string
	// Now gives the time at which certificates must be valid; nil means
	// time.Now.
	Now func() time.Time
	// DialContext opens the transport connection; nil means a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// ServerName overrides the TLS server name sent; empty means
	// ServerName(policy hash).
	ServerName string
	// Timeout bounds each request that is not a file transfer or a run;
	// zero means one minute.
	Timeout time.Duration
	// KnownEnclaves, if set, is the record of the enclave instances met
	// before: Dial checks the enclave against it (see
	// KnownEnclaves.Check) and calls OnEnclaveChange when it is another
	// instance than last time for the same policy.
	KnownEnclaves *KnownEnclaves
	// OnEnclaveChange decides what a change of instance means: nil, or an
	// error, makes Dial fail with that error (the *EnclaveChangedError,
	// matching ErrEnclaveChanged, when the function is nil); returning nil
	// accepts the new instance, which the record then expects.
	OnEnclaveChange func(*EnclaveChangedError) error
}

// Option changes Options.
type Option func(*Options)

// WithAddr dials addr instead of the policy's host.
func WithAddr(addr string) Option { return func(o *Options) { o.Addr = addr } }

// WithClock checks certificates at the times now returns.
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Now = now } }

// WithDialer opens transport connections with dial.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(o *Options) { o.DialContext = dial }
}

// WithKnownEnclaves checks each enclave against the record k (see
// Options.KnownEnclaves); onChange decides what a new instance means (see
// Options.OnEnclaveChange).
func WithKnownEnclaves(k *KnownEnclaves, onChange func(*EnclaveChangedError) error) Option {
	return func(o *Options) { o.KnownEnclaves, o.OnEnclaveChange = k, onChange }
}

// WithOptions replaces all options with o.
func WithOptions(o Options) Option { return func(p *Options) { *p = o } }

// Session is a verified connection to one enclave. It is safe for
// concurrent use; each request may use its own TLS connection, and every
// connection is verified as the first was.
type Session struct {
	pol    *policy.Policy // the policy the caller trusts
	cur    *policy.Policy // the enclave's current policy, verified (mu)
	links  []api.PolicyLink
	id     *identity.Identity
	opts   Options
	base   string
	hc     *http.Client
	tr     *http.Transport
	mu     sync.Mutex
	enc    *attest.Identity
	chain  []*x509.Certificate
	verErr error
}

// Dial connects to the enclave of pol as id, verifies the enclave and
// checks that it runs exactly pol (GET /v1/policy compared byte for byte),
// or a successor of pol: then it fetches the enclave's chain of policies
// and checks, with succession.VerifyChain, that it starts at the policy the
// enclave's certificate binds, that every change was approved by the quorum
// of the policy before it, and that pol is in it (ErrPolicyMismatch
// otherwise). Current then returns the enclave's policy. It fails, with an
// error wrapping an attest sentinel such as attest.ErrUntrustedMeasurement,
// if the enclave's certificate chain is not one the policy trusts; nothing
// is sent to the enclave then.
func Dial(ctx context.Context, pol *policy.Policy, id *identity.Identity, opts ...Option) (*Session, error) {
	if pol == nil {
		return nil, errors.New("dialing enclave: no policy")
	}
	if id == nil {
		return nil, errors.New("dialing enclave: no identity")
	}
	o := resolve(pol, opts)
	if now := o.Now(); pol.Expired(now) {
		return nil, fmt.Errorf("%w: policy %q expired at %s", ErrPolicyExpired, pol.Name, pol.Expires.Format(time.RFC3339))
	}
	s := &Session{pol: pol, cur: pol, id: id, opts: o, base: "https://" + o.ServerName}
	s.tr = &http.Transport{
		DialTLSContext:        s.dialTLS,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0,
		ForceAttemptHTTP2:     false,
	}
	s.hc = &http.Client{Transport: s.tr}
	got, err := s.Policy(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	// A successor's chain is checked even when the enclave runs it: the
	// client verifies every approval from the first policy itself.
	if !bytes.Equal(got, pol.Bytes()) || pol.Sequence() > 0 {
		if err := s.Refresh(ctx); err != nil {
			s.Close()
			if !errors.Is(err, ErrPolicyMismatch) {
				err = fmt.Errorf("%w: the enclave's policy (%d bytes, sha256 %x) is not this policy (sha256 %s), nor a verified successor of it: %v",
					ErrPolicyMismatch, len(got), sha256.Sum256(got), pol.HashHex(), err)
			}
			return nil, err
		}
	}
	if o.KnownEnclaves != nil {
		enc, chain := s.Enclave()
		if enc == nil || len(chain) == 0 {
			s.Close()
			return nil, errors.New("dialing enclave: no verified enclave certificate to check against the known enclaves")
		}
		if err := o.KnownEnclaves.Check(enc.PolicyHash, KeyFingerprint(chain[0]), o.OnEnclaveChange); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Refresh fetches the enclave's chain of policies and verifies it (see
// Dial); afterwards Current is the enclave's current policy. On failure
// the session keeps what it had verified before.
func (s *Session) Refresh(ctx context.Context) error {
	var ch api.PolicyChain
	if err := s.getJSON(ctx, api.PathPolicyChain, &ch); err != nil {
		return fmt.Errorf("reading the enclave's policy chain: %w", err)
	}
	s.mu.Lock()
	enc := s.enc
	s.mu.Unlock()
	if enc == nil {
		return fmt.Errorf("%w: no verified enclave connection", ErrPolicyMismatch)
	}
	pols, err := succession.VerifyChain(ch.Links, enc.PolicyHash, s.opts.Now())
	if err != nil {
		return fmt.Errorf("%w: the enclave's policy chain does not verify: %w", ErrPolicyMismatch, err)
	}
	if !slices.ContainsFunc(pols, func(p *policy.Policy) bool { return p.Hash() == s.pol.Hash() }) {
		cur := pols[len(pols)-1]
		return fmt.Errorf("%w: the enclave runs policy %s, and its chain %v does not pass through this policy (sha256 %s)",
			ErrPolicyMismatch, cur.HashHex(), hashes(ch.Links), s.pol.HashHex())
	}
	s.mu.Lock()
	s.cur, s.links = pols[len(pols)-1], ch.Links
	s.mu.Unlock()
	return nil
}

func hashes(links []api.PolicyLink) []string {
	out := make([]string, len(links))
	for i, l := range links {
		out[i] = l.SHA256
	}
	return out
}

// Current returns the enclave's current policy as last verified: the
// policy given to Dial, or a successor of it.
func (s *Session) Current() *policy.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Chain returns the enclave's chain of policies as last verified by
// Refresh (nil if Dial found the enclave at the caller's own policy).
func (s *Session) Chain() []api.PolicyLink {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.links
}

// ApplySuccessor sends a proposal (the file truce policy propose and sign
// write) to the enclave. On success the session verifies the new chain
// (Refresh) before returning the change.
func (s *Session) ApplySuccessor(ctx context.Context, proposal []byte) (*api.PolicyChange, error) {
	if _, err := succession.ParseProposal(proposal); err != nil {
		return nil, err
	}
	ctx, cancel := s.short(ctx)
	defer cancel()
	req, err := s.newRequest(ctx, http.MethodPost, s.base+api.PathPolicySuccessor, bytes.NewReader(proposal))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var ch api.PolicyChange
	if err := s.doJSON(req, &ch); err != nil {
		return nil, err
	}
	if err := s.Refresh(ctx); err != nil {
		return &ch, err
	}
	return &ch, nil
}

// Release releases the held file at guestPath as the session's principal.
// A non-empty commitment (hex, as the receipt of the run that wrote the
// file names it) binds the release to that version: the enclave refuses
// it (ErrConflict) if the file now holds another.
func (s *Session) Release(ctx context.Context, guestPath, commitment string) (*api.ReleaseResult, error) {
	ctx, cancel := s.short(ctx)
	defer cancel()
	body, _ := json.Marshal(api.ReleaseRequest{Commitment: commitment})
	req, err := s.newRequest(ctx, http.MethodPost, s.url(api.PathRelease, guestPath), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var rr api.ReleaseResult
	if err := s.doJSON(req, &rr); err != nil {
		return nil, err
	}
	return &rr, nil
}

// doJSON sends req and decodes a 2xx answer into out.
func (s *Session) doJSON(req *http.Request, out any) error {
	resp, err := s.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("reading the answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// resolve applies opts and the defaults.
func resolve(pol *policy.Policy, opts []Option) Options {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	if o.Addr == "" {
		o.Addr = pol.Host
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ServerName == "" {
		o.ServerName = pol.ServerName()
	}
	if o.Timeout == 0 {
		o.Timeout = time.Minute
	}
	if o.DialContext == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		o.DialContext = d.DialContext
	}
	return o
}

// errChainSeen ends PeerChain's handshake once the chain is seen.
var errChainSeen = errors.New("certificate chain seen; handshake abandoned")

// PeerChain dials the enclave of pol as Dial would and returns the
// certificate chain it presents (leaf first), without checking it: the
// handshake is abandoned as soon as the chain is seen, before any client
// certificate or request byte is sent. It is for explaining why an enclave
// was refused (attest.ExplainEnclave); never trust what it returns.
func PeerChain(ctx context.Context, pol *policy.Policy, opts ...Option) ([]*x509.Certificate, error) {
	if pol == nil {
		return nil, errors.New("dialing enclave: no policy")
	}
	o := resolve(pol, opts)
	raw, err := o.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, o.Addr, err)
	}
	defer raw.Close()
	var chain []*x509.Certificate
	tc := tls.Client(raw, &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         o.ServerName,
		InsecureSkipVerify: true, // nothing is trusted: the chain is only shown
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return errChainSeen
		},
	})
	err = tc.HandshakeContext(ctx)
	if len(chain) > 0 {
		return chain, nil
	}
	if err == nil {
		err = errors.New("no certificate presented")
	}
	return nil, fmt.Errorf("%w: %s presented no enclave certificate (is the host serving this policy, and is its enclave ready?): %v", ErrUnreachable, o.Addr, err)
}

// tlsConfig is the client side of the enclave TLS: 1.3 only, the client
// certificate of id, and the enclave check in VerifyConnection. The
// standard name and chain checks are replaced by attest.CheckEnclave, which
// checks the chain to the policy's CA itself.
func (s *Session) tlsConfig() *tls.Config {
	cert := tls.Certificate{Certificate: [][]byte{s.id.Cert.Raw}, PrivateKey: s.id.Key, Leaf: s.id.Cert}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         s.opts.ServerName,
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // replaced by VerifyConnection below
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := attest.CheckEnclave(cs.PeerCertificates, s.pol, s.opts.Now())
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.verErr = err
				return err
			}
			// One session, one enclave: a restarted enclave has lost what
			// the session sent it, so it is never met silently.
			if len(s.chain) > 0 {
				if was, now := KeyFingerprint(s.chain[0]), KeyFingerprint(cs.PeerCertificates[0]); was != now {
					s.verErr = &EnclaveChangedError{Policy: id.PolicyHash, Previous: was, Current: now, Seen: 2, InSession: true}
					return s.verErr
				}
			}
			s.enc, s.chain, s.verErr = id, cs.PeerCertificates, nil
			return nil
		},
	}
}

func (s *Session) dialTLS(ctx context.Context, _, _ string) (net.Conn, error) {
	raw, err := s.opts.DialContext(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, s.opts.Addr, err)
	}
	tc := tls.Client(raw, s.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		s.mu.Lock()
		verr := s.verErr
		s.mu.Unlock()
		if verr != nil {
			return nil, fmt.Errorf("the enclave at %s is not one the policy trusts; nothing was sent: %w", s.opts.Addr, verr)
		}
		if isAuthAlert(err) {
			return nil, fmt.Errorf("%w: the enclave refused the certificate of %q: %v", ErrUnauthenticated, s.id.Name, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return nil, fmt.Errorf("%w: %s closed the connection before an enclave answered (is the host serving this policy, and is its enclave ready?): %v", ErrUnreachable, s.opts.Addr, err)
		}
		return nil, fmt.Errorf("TLS handshake with the enclave at %s: %w", s.opts.Addr, err)
	}
	return tc, nil
}

func isAuthAlert(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "bad certificate") || strings.Contains(msg, "certificate required") ||
		strings.Contains(msg, "unknown certificate") || strings.Contains(msg, "access denied")
}

// Enclave returns what the last verified connection's certificate says of
// the enclave, and its chain (leaf first).
func (s *Session) Enclave() (*attest.Identity, []*x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enc, s.chain
}

// Close releases the session's idle connections.
func (s *Session) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// FileInfo describes a file written, appended or read.
type FileInfo = api.FileResult

func (s *Session) url(prefix, guestPath string) string {
	u := url.URL{Scheme: "https", Host: s.opts.ServerName, Path: prefix + strings.TrimPrefix(guestPath, "/")}
	return u.String()
}

// do sends req and returns the response if its status is 2xx; otherwise it
// decodes the problem and returns it as a *ProblemError.
func (s *Session) do(req *http.Request) (*http.Response, error) {
	resp, err := s.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		// In TLS 1.3 the enclave refuses a client certificate after the
		// client has finished its handshake: the alert comes with the
		// first response.
		if !errors.Is(err, ErrUnauthenticated) && isAuthAlert(err) {
			return nil, fmt.Errorf("%s %s: %w: the enclave refused the certificate of %q: %v", req.Method, req.URL.Path, ErrUnauthenticated, s.id.Name, err)
		}
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeProblem(req, resp)
}

// maxProblem bounds a problem document read from the enclave.
const maxProblem = 4 << 20

func decodeProblem(req *http.Request, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblem))
	pe := &ProblemError{Status: resp.StatusCode, Method: req.Method, Path: req.URL.Path}
	var p api.Problem
	if err := json.Unmarshal(body, &p); err == nil && p.Type != "" {
		pe.Type, pe.Title, pe.Detail, pe.Result = p.Type, p.Title, p.Detail, p.Result
		pe.Name = api.Problems.Name(p.Type)
	} else {
		pe.Title = http.StatusText(resp.StatusCode)
		pe.Detail = strings.TrimSpace(string(bytes.ToValidUTF8(body[:min(len(body), 512)], nil)))
		pe.Name = nameForStatus(resp.StatusCode)
	}
	return pe
}

// nameForStatus names the problem type of an answer that is no problem
// document (from something between the client and the enclave, or a
// failure before the runtime answered), by its status.
func nameForStatus(code int) string {
	switch code {
	case http.StatusInternalServerError:
		return api.ProblemInternal
	case http.StatusForbidden:
		return api.ProblemForbidden
	case http.StatusNotFound:
		return api.ProblemNotFound
	case http.StatusUnauthorized:
		return api.ProblemUnauthenticated
	case http.StatusConflict:
		return api.ProblemConflict
	case http.StatusBadRequest:
		return api.ProblemBadRequest
	case http.StatusRequestEntityTooLarge:
		return api.ProblemLimitExceeded
	}
	return ""
}

func (s *Session) newRequest(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("making request %s %s: %w", method, u, err)
	}
	return req, nil
}

func (s *Session) short(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.Timeout)
}

// Policy returns the exact policy bytes the enclave runs.
func (s *Session) Policy(ctx context.Context) ([]byte, error) {
	ctx, cancel := s.short(ctx)
	defer cancel()
	req, err := s.newRequest(ctx, http.MethodGet, s.base+api.PathPolicy, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the enclave's policy: %w", err)
	}
	return b, nil
}

// Put writes r to guestPath, replacing any content. r is streamed, never
// held whole in memory. If r is an *os.File or has a Len method, its size is
// sent ahead.
func (s *Session) Put(ctx context.Context, guestPath string, r io.Reader) (*FileInfo, error) {
	return s.upload(ctx, http.MethodPut, guestPath, r)
}

// Append adds r at the end of guestPath, creating it if the policy allows.
func (s *Session) Append(ctx context.Context, guestPath string, r io.Reader) (*FileInfo, error) {
	return s.upload(ctx, http.MethodPost, guestPath, r)
}

type lener interface{ Len() int }

func (s *Session) upload(ctx context.Context, method, guestPath string, r io.Reader) (*FileInfo, error) {
	if r == nil {
		r = http.NoBody
	}
	h := sha256.New()
	body := io.TeeReader(r, h)
	req, err := s.newRequest(ctx, method, s.url(api.PathFiles, guestPath), io.NopCloser(body))
	if err != nil {
		return nil, err
	}
	req.ContentLength = -1
	switch v := r.(type) {
	case lener:
		req.ContentLength = int64(v.Len())
	case *os.File:
		if st, err := v.Stat(); err == nil && st.Mode().IsRegular() {
			if off, err := v.Seek(0, io.SeekCurrent); err == nil {
				req.ContentLength = st.Size() - off
			}
		}
	}
	if req.ContentLength == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := s.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var fi FileInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&fi); err != nil {
		return nil, fmt.Errorf("reading the answer to %s %s: %w", method, guestPath, err)
	}
	if method == http.MethodPut {
		if sum := hex.EncodeToString(h.Sum(nil)); fi.SHA256 != "" && fi.SHA256 != sum {
			return &fi, fmt.Errorf("%w: wrote %s with sha256 %s, the enclave stored %s", ErrIntegrity, guestPath, sum, fi.SHA256)
		}
	}
	return &fi, nil
}

// Get reads guestPath into w, streaming, and checks the content against
// the hash the enclave sent (ErrIntegrity on a mismatch; w has then
// received the bad bytes, so callers writing to a file should discard it).
func (s *Session) Get(ctx context.Context, guestPath string, w io.Writer) (*FileInfo, error) {
	req, err := s.newRequest(ctx, http.MethodGet, s.url(api.PathFiles, guestPath), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	// The commitment the audit log and receipts name this version by is
	// checked against the bytes read, with the salt that came with them.
	commit, saltHex := resp.Header.Get(api.HeaderCommitment), resp.Header.Get(api.HeaderSalt)
	h := sha256.New()
	var c io.Writer = io.Discard
	var committer hash.Hash
	if commit != "" {
		salt, err := hex.DecodeString(saltHex)
		if err != nil || len(salt) != audit.SaltSize {
			return nil, fmt.Errorf("%w: %s: the enclave sent the salt %q, not %d bytes in hex", ErrIntegrity, guestPath, saltHex, audit.SaltSize)
		}
		committer = audit.NewCommitter(salt)
		c = committer
	}
	n, err := io.Copy(io.MultiWriter(w, h, c), resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the enclave: %w", guestPath, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want := resp.Header.Get(api.HeaderSHA256); want != "" && !strings.EqualFold(want, sum) {
		return nil, fmt.Errorf("%w: %s read with sha256 %s, the enclave announced %s", ErrIntegrity, guestPath, sum, want)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return nil, fmt.Errorf("%w: %s: read %d bytes of %d", ErrIntegrity, guestPath, n, resp.ContentLength)
	}
	if committer != nil {
		if got := hex.EncodeToString(committer.Sum(nil)); !strings.EqualFold(got, commit) {
			return nil, fmt.Errorf("%w: %s read with commitment %s, the enclave announced %s", ErrIntegrity, guestPath, got, commit)
		}
	}
	return &FileInfo{Path: guestPath, Size: n, SHA256: sum, Commitment: commit, Salt: saltHex}, nil
}

// Run runs the program at guestPath. A program that exits non-zero gives
// both its result and a *ProblemError of type program-failed.
func (s *Session) Run(ctx context.Context, guestPath string) (*api.RunResult, error) {
	var rr api.RunResult
	if err := s.post(ctx, s.url(api.PathRun, guestPath), &rr); err != nil {
		var pe *ProblemError
		if errors.As(err, &pe) && pe.Result != nil {
			return pe.Result, err
		}
		return nil, err
	}
	return &rr, nil
}

// RunPipeline runs the named pipeline of the policy.
func (s *Session) RunPipeline(ctx context.Context, name string) (*api.PipelineResult, error) {
	var pr api.PipelineResult
	u := url.URL{Scheme: "https", Host: s.opts.ServerName, Path: api.PathPipelines + name}
	if err := s.post(ctx, u.String(), &pr); err != nil {
		return nil, err
	}
	return &pr, nil
}

func (s *Session) post(ctx context.Context, u string, out any) error {
	req, err := s.newRequest(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	resp, err := s.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("reading the answer to POST %s: %w", req.URL.Path, err)
	}
	return nil
}

func (s *Session) getJSON(ctx context.Context, path string, out any) error {
	ctx, cancel := s.short(ctx)
	defer cancel()
	req, err := s.newRequest(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := s.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(out); err != nil {
		return fmt.Errorf("reading the answer to GET %s: %w", path, err)
	}
	return nil
}

// maxAuditPages bounds the pages Audit reads: enough for a log many
// times the size of the largest budget.
const maxAuditPages = 10000

// Audit returns the enclave's audit log: every entry it holds (those not
// folded away), read page by page up to the entries it held when the
// first page was answered, with the checkpoint of the last page, which
// covers them all (entries before its From, folded away while reading,
// are dropped). Check it with audit.VerifyCheckpoint.
func (s *Session) Audit(ctx context.Context) (*api.AuditLog, error) {
	var (
		all    []audit.Entry
		cp     *audit.Checkpoint
		target uint64
		after  = int64(-1)
	)
	for page := 0; ; page++ {
		if page == maxAuditPages {
			return nil, fmt.Errorf("reading the audit log: still not at its end after %d pages: it grows faster than it is read; try again", page)
		}
		path := api.PathAudit
		if after >= 0 {
			path += "?" + api.QueryAfter + "=" + strconv.FormatInt(after, 10)
		}
		var l api.AuditLog
		if err := s.getJSON(ctx, path, &l); err != nil {
			return nil, err
		}
		if l.Checkpoint == nil {
			// A runtime older than paging: the whole log at once.
			return &l, nil
		}
		cp = l.Checkpoint
		if page == 0 {
			target = cp.Total
		}
		// Entries folded away since the last page are not covered any
		// more.
		for len(all) > 0 && all[0].Seq < cp.From {
			all = all[1:]
		}
		if len(l.Entries) > 0 {
			first := l.Entries[0].Seq
			switch {
			case len(all) == 0 && first != cp.From:
				return nil, fmt.Errorf("%w: the audit page starts at entry %d, the enclave holds entries from %d", ErrIntegrity, first, cp.From)
			case len(all) > 0 && first != all[len(all)-1].Seq+1:
				if first != cp.From {
					return nil, fmt.Errorf("%w: the audit page starts at entry %d, after entry %d", ErrIntegrity, first, all[len(all)-1].Seq)
				}
				all = nil // everything read so far was folded away
			}
			all = append(all, l.Entries...)
			after = int64(all[len(all)-1].Seq)
		}
		if len(l.Entries) == 0 || cp.Size >= target || cp.Size >= cp.Total {
			break
		}
	}
	if all == nil {
		all = []audit.Entry{}
	}
	return &api.AuditLog{Entries: all, Head: cp.Head, Checkpoint: cp}, nil
}

// Receipts returns the receipts of the runs and pipelines in the enclave's
// audit log that this principal may read (policy.MayReadReceipt), in the
// order of their audit entries. Check each with receipt.Verify.
func (s *Session) Receipts(ctx context.Context) ([]receipt.Receipt, error) {
	var rs api.Receipts
	if err := s.getJSON(ctx, api.PathReceipts, &rs); err != nil {
		return nil, err
	}
	return rs.Receipts, nil
}

// Attestation returns the evidence behind the enclave's current
// certificate, as the enclave reports it.
func (s *Session) Attestation(ctx context.Context) (*api.Attestation, error) {
	var a api.Attestation
	if err := s.getJSON(ctx, api.PathAttestation, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// Shutdown asks the enclave to wipe its state and stop.
func (s *Session) Shutdown(ctx context.Context) error {
	ctx, cancel := s.short(ctx)
	defer cancel()
	err := s.post(ctx, s.base+api.PathShutdown, nil)
	s.Close()
	return err
}
