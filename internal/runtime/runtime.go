// Package runtime is the part of Truce that runs inside the enclave: it
// holds the enclave's key, gets it certified through attestation (relayed
// by the host over the control protocol, package internal/control), and
// serves the HTTP API of package api over TLS 1.3 that ends inside the
// enclave. Every request is checked against the policy: clients must
// present exactly a principal's certificate, every file access is checked
// against that principal's capabilities, programs run only when their bytes
// match the hash the policy pins, and every run returns a receipt signed by
// the enclave key. Every request lands in a hash-chained audit log. A
// policy with a quorum may be replaced by an approved successor while the
// runtime serves; data-use budgets and held results are enforced here too
// (lifecycle.go, docs/spec/lifecycle.md).
//
// This package must never write the enclave key, file contents or the
// audit log anywhere outside enclave memory, never trust the host (every
// control message is checked), never let a failing program stop the
// runtime from serving, and never tell anyone more of how a run that may
// read an unreleased held file or write a held path ended than whether it
// succeeded (foldsResult).
package runtime

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/policy"
)

// Errors callers branch on.
var (
	// ErrPolicyExpired: the policy's expiry has passed; the runtime
	// refuses to start, and refuses requests once it passes while serving.
	ErrPolicyExpired = errors.New("policy has expired")
	// ErrNoCertificate: the runtime has no certified key yet.
	ErrNoCertificate = errors.New("enclave has no certificate yet")
	// ErrBadChain: a certificate chain sent by the host is not for the
	// enclave key, or does not check against the policy.
	ErrBadChain = errors.New("certificate chain refused")
	// ErrNoAttestation: a certificate arrived without an attestation
	// under way.
	ErrNoAttestation = errors.New("no attestation under way")
	// ErrHostGone: the host closed the control channel.
	ErrHostGone = errors.New("host closed the control channel")
	// ErrStopped: the runtime was shut down and its state wiped.
	ErrStopped = errors.New("runtime stopped")
)

// MaxNonce is the longest attestation nonce accepted from the host.
const MaxNonce = 1024

// Config is what a Runtime is made from. Only Policy and Provider are
// required; the zero value of every other field works.
type Config struct {
	// Policy is the parsed policy the runtime enforces.
	Policy *policy.Policy
	// Provider produces the platform's evidence.
	Provider attest.Provider
	// Engine runs programs; nil means engine.New(engine.Options{}).
	Engine engine.Engine
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness for keys, signatures and programs; nil means
	// crypto/rand.
	Rand io.Reader
	// Logger receives operational logs (never file contents); nil
	// discards them.
	Logger *slog.Logger
	// MaxRuns bounds the program runs and pipelines in progress at once;
	// one more is refused (429, limit-exceeded) rather than queued. Zero
	// means no bound beyond one run per program at a time.
	MaxRuns int
	// Server bounds what clients can hold of the API server: how long a
	// connection may stall, stay idle, and how many connections and
	// requests in progress one principal may have. The zero value means
	// the defaults (ServerLimits).
	Server ServerLimits
	// AuditBytes bounds the memory of the audit log with the receipts its
	// entries name; past it the oldest entries are folded away (package
	// audit). Zero means audit.DefaultBudget.
	AuditBytes int64
}

// Runtime is one enclave's runtime. Make it with New; it is safe for
// concurrent use.
type Runtime struct {
	genesis  *policy.Policy // the policy the enclave started with; its certificate binds it
	polMu    sync.RWMutex   // held for reading by requests while they check and commit, never across network I/O; for writing by a change of policy (locks.go)
	runGate  sync.RWMutex   // held for reading by runs while they run, for writing by a change of policy (locks.go)
	pol      *policy.Policy // the current policy (polMu)
	chain    []api.PolicyLink
	pols     map[string]*policy.Policy // every policy of the chain by hex hash (polMu)
	uses     map[budgetKey]int         // runs charged to each budget (mu)
	releases map[string]*releases      // releases of held files by path (mu)
	provider attest.Provider
	eng      engine.Engine
	now      func() time.Time
	rand     io.Reader
	log      *slog.Logger

	key   atomic.Pointer[ecdsa.PrivateKey] // nil once wiped
	pub   *ecdsa.PublicKey
	spki  []byte
	fs    *vfs.FS
	admin *vfs.View // every right, for the runtime's own reads
	audit *audit.Log
	vers  versions // the salt of each file's current version

	cert atomic.Pointer[certState]

	mu       sync.Mutex
	pending  *pendingAttestation
	progQs   runQueues      // runs of each program take turns (progqueue.go)
	mux      *http.ServeMux // the API's routes (routes.go)
	claims   claims         // paths held still by runs and writes in progress
	receipts receiptBook    // the receipts the audit log names (run.go)
	stopped  bool
	shutdown chan struct{} // closed when a principal asks for shutdown
	runs     *runSlots     // runs and pipelines in progress (nil: unbounded)
	stopOnce sync.Once

	srvLim    ServerLimits // with defaults filled in
	conns     counter      // open connections by principal
	inflight  counter      // requests in progress by principal
	proposing counter      // successor proposals being read, by principal
}

// certState is the enclave's current certificate and what it was made from.
type certState struct {
	tls      *tls.Certificate
	chain    [][]byte
	leaf     *x509.Certificate
	evidence []byte
	nonce    []byte
	platform string
}

type pendingAttestation struct {
	nonce    []byte
	evidence []byte
}

// New makes a runtime: a fresh P-256 enclave key (held only in memory), an
// empty file system with the policy's limits and an empty audit log. It
// refuses an expired policy.
func New(cfg Config) (*Runtime, error) {
	if cfg.Policy == nil {
		return nil, errors.New("runtime: no policy given")
	}
	if cfg.Provider == nil {
		return nil, errors.New("runtime: no attestation provider given")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.Policy.Sequence() != 0 {
		return nil, fmt.Errorf("runtime: policy %s succeeds policy %s: an enclave starts only with a first policy (one without lifecycle.predecessor); apply successors to the running enclave with truce policy apply", cfg.Policy.HashHex(), cfg.Policy.Lifecycle.Predecessor.Policy)
	}
	if cfg.Policy.Expired(now()) {
		return nil, fmt.Errorf("%w at %s: make a new policy with a later expiry", ErrPolicyExpired, cfg.Policy.Expires.UTC().Format(time.RFC3339))
	}
	srvLim, err := cfg.Server.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	eng := cfg.Engine
	if eng == nil {
		if eng, err = engine.New(engine.Options{}); err != nil {
			return nil, fmt.Errorf("runtime: starting the engine: %w", err)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("runtime: making the enclave key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("runtime: encoding the enclave key: %w", err)
	}
	lim := cfg.Policy.Limits
	fs := vfs.New(vfs.Limits{FileBytes: lim.File(), TotalBytes: lim.Total()}, now)
	r := &Runtime{
		genesis: cfg.Policy, pol: cfg.Policy, provider: cfg.Provider, eng: eng, now: now, rand: rnd, log: logger,
		pub: &key.PublicKey, spki: spki, fs: fs,
		admin:    fs.View(capability.Set{"/": capability.All}),
		audit:    &audit.Log{Now: now, Budget: cfg.AuditBytes},
		chain:    []api.PolicyLink{{SHA256: cfg.Policy.HashHex(), Policy: cfg.Policy.Bytes(), Approvals: []api.PolicyApproval{}}},
		pols:     map[string]*policy.Policy{cfg.Policy.HashHex(): cfg.Policy},
		uses:     map[budgetKey]int{},
		releases: map[string]*releases{},
		shutdown: make(chan struct{}),
		vers:     versions{m: map[string]version{}, next: map[string]version{}},
	}
	r.audit.OnFold = r.forgetReceipts
	if cfg.AuditBytes < 0 {
		return nil, fmt.Errorf("runtime: AuditBytes is %d: give a positive budget, or 0 for the default", cfg.AuditBytes)
	}
	if cfg.MaxRuns < 0 {
		return nil, fmt.Errorf("runtime: MaxRuns is %d: give a positive bound, or 0 for none", cfg.MaxRuns)
	}
	if cfg.MaxRuns > 0 {
		r.runs = newRunSlots(cfg.MaxRuns)
	}
	r.srvLim = srvLim
	r.key.Store(key)
	r.mux = r.newMux()
	return r, nil
}

// signer returns the enclave key, or ErrStopped once it has been wiped.
func (r *Runtime) signer() (*ecdsa.PrivateKey, error) {
	k := r.key.Load()
	if k == nil {
		return nil, ErrStopped
	}
	return k, nil
}

// Policy returns the policy the runtime enforces now: the one it started
// with, or its latest accepted successor.
func (r *Runtime) Policy() *policy.Policy {
	r.polMu.RLock()
	defer r.polMu.RUnlock()
	return r.pol
}

// Platform names the platform the runtime's evidence comes from.
func (r *Runtime) Platform() string { return r.provider.Platform() }

// PublicKey returns the enclave key's public half.
func (r *Runtime) PublicKey() *ecdsa.PublicKey { return r.pub }

// Attest asks the platform for evidence binding the enclave key, the policy
// and nonce (attest.ReportData), and makes a certificate request for the
// key. The runtime remembers the nonce and evidence until a certificate
// for them arrives (SetCertificate); a later Attest replaces them.
func (r *Runtime) Attest(ctx context.Context, nonce []byte) (evidence, csr []byte, err error) {
	if len(nonce) == 0 || len(nonce) > MaxNonce {
		return nil, nil, fmt.Errorf("attestation nonce of %d bytes: the host must relay the attestation service's nonce (1 to %d bytes)", len(nonce), MaxNonce)
	}
	if r.isStopped() {
		return nil, nil, ErrStopped
	}
	key, err := r.signer()
	if err != nil {
		return nil, nil, err
	}
	// The evidence binds the first policy for the enclave's whole life:
	// successors are accepted inside the enclave, by their approvals.
	rd := attest.ReportData(r.spki, r.genesis.Hash(), nonce)
	evidence, err = r.provider.Evidence(ctx, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("getting %s evidence: %w", r.provider.Platform(), err)
	}
	csr, err = x509.CreateCertificateRequest(r.rand, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "truce enclave", Organization: []string{r.genesis.Name}},
	}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("making the certificate request: %w", err)
	}
	r.mu.Lock()
	r.pending = &pendingAttestation{nonce: append([]byte(nil), nonce...), evidence: evidence}
	r.mu.Unlock()
	return evidence, csr, nil
}

// SetCertificate installs a certificate chain (DER, leaf first) for the
// enclave key, answering the last Attest. The leaf must certify the
// enclave key and the chain must pass attest.CheckEnclave against the
// policy now; otherwise the current certificate stays and the error wraps
// ErrBadChain. The new certificate is used by the next TLS handshake.
func (r *Runtime) SetCertificate(chain [][]byte) (notAfter time.Time, err error) {
	r.mu.Lock()
	p := r.pending
	r.mu.Unlock()
	if p == nil {
		return time.Time{}, fmt.Errorf("%w: send attest before certificate", ErrNoAttestation)
	}
	if len(chain) == 0 || len(chain) > 8 {
		return time.Time{}, fmt.Errorf("%w: %d certificates: send the enclave certificate first, then any intermediates", ErrBadChain, len(chain))
	}
	certs := make([]*x509.Certificate, 0, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: certificate %d: %v", ErrBadChain, i, err)
		}
		certs = append(certs, c)
	}
	leaf := certs[0]
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(r.pub) {
		return time.Time{}, fmt.Errorf("%w: the certificate is not for this enclave's key", ErrBadChain)
	}
	id, err := attest.CheckEnclave(certs, r.genesis, r.now())
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", ErrBadChain, err)
	}
	if id.Platform != r.provider.Platform() {
		return time.Time{}, fmt.Errorf("%w: certificate names platform %s, the enclave runs on %s", ErrBadChain, id.Platform, r.provider.Platform())
	}
	owned := make([][]byte, len(chain))
	for i := range chain {
		owned[i] = append([]byte(nil), chain[i]...)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key, err := r.signer()
	if r.stopped || err != nil {
		return time.Time{}, ErrStopped
	}
	r.cert.Store(&certState{
		tls:      &tls.Certificate{Certificate: owned, PrivateKey: key, Leaf: leaf},
		chain:    owned,
		leaf:     leaf,
		evidence: p.evidence,
		nonce:    p.nonce,
		platform: r.provider.Platform(),
	})
	if r.pending == p {
		r.pending = nil
	}
	return leaf.NotAfter, nil
}

// Certified reports whether the runtime has a certificate to serve with.
func (r *Runtime) Certified() bool { return r.cert.Load() != nil }

// TLSConfig returns the server TLS configuration: TLS 1.3 only, the current
// enclave certificate, and a client certificate required that must be
// exactly one principal's certificate and valid now.
//
// On connections accepted through the runtime's own listener (Serve), a
// client is counted against its principal's bound on connections
// (ServerLimits.ConnsPerPrincipal) at its first request, once the
// handshake has proved it holds the certificate's key: counting it when
// the certificate arrives would let anyone who read the policy take a
// principal's places with its public certificate alone.
func (r *Runtime) TLSConfig() *tls.Config { return r.baseTLSConfig() }

func (r *Runtime) baseTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAnyClientCert,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			s := r.cert.Load()
			if s == nil {
				return nil, ErrNoCertificate
			}
			return s.tls, nil
		},
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			r.polMu.RLock()
			_, err := r.checkClient(r.pol, raw)
			r.polMu.RUnlock()
			if err != nil {
				r.log.Warn("client refused", "error", err)
			}
			return err
		},
	}
}

// ErrUnknownClient is returned by the TLS handshake for a client whose
// certificate is not a principal's, or is not valid now.
var ErrUnknownClient = errors.New("client certificate is not a principal of the policy")

func (r *Runtime) checkClient(pol *policy.Policy, raw [][]byte) (*policy.Principal, error) {
	if r.isStopped() {
		return nil, ErrStopped
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: no certificate presented", ErrUnknownClient)
	}
	pr := pol.PrincipalByCert(raw[0])
	if pr == nil {
		return nil, ErrUnknownClient
	}
	c := pr.Certificate()
	now := r.now()
	if c == nil || now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, fmt.Errorf("%w: the certificate of %q is not valid at %s", ErrUnknownClient, pr.Name, now.UTC().Format(time.RFC3339))
	}
	return pr, nil
}

// ShutdownRequested is closed when a principal has asked the runtime to
// shut down (POST /v1/shutdown).
func (r *Runtime) ShutdownRequested() <-chan struct{} { return r.shutdown }

func (r *Runtime) requestShutdown() { r.stopOnce.Do(func() { close(r.shutdown) }) }

func (r *Runtime) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// Wipe forgets everything the enclave holds: files (their bytes zeroed),
// audit log, receipts, the certificate and the key. Afterwards the runtime refuses
// every request and signs nothing. Go cannot promise every copy of the
// key's bytes is overwritten in memory; the process is expected to exit
// right after.
func (r *Runtime) Wipe() {
	r.mu.Lock()
	r.stopped = true
	r.pending = nil
	r.mu.Unlock()
	r.receipts.wipe()
	r.cert.Store(nil)
	r.key.Store(nil)
	// Under the write lock, so that a read still being sent (send takes
	// polMu for each chunk and stops once stopped is set) never reads
	// bytes while they are zeroed.
	r.polMu.Lock()
	r.fs.Wipe()
	r.polMu.Unlock()
	r.audit.Wipe()
	r.wipeVersions()
}
