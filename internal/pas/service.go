package pas

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/internal/paswire"
	"github.com/truce-project/truce/policy"
)

// Defaults of Config.
const (
	DefaultCertLifetime  = 8 * time.Hour
	DefaultNonceLifetime = 2 * time.Minute
	DefaultMaxNonces     = 1 << 16
	DefaultRefusalDelay  = time.Second
	DefaultAttestsAtOnce = 8
	// MaxHeldRefusals bounds the refusals held back (Config.RefusalDelay).
	MaxHeldRefusals = 1024
	// MaxRequestBytes bounds an attestation request: a policy of at most
	// policy.MaxSize in base64, plus evidence and CSR.
	MaxRequestBytes = policy.MaxSize*4/3 + 1<<20
)

// SimulatedOU is the Subject organisational unit of every certificate
// issued for simulated evidence.
const SimulatedOU = "SIMULATED – not hardware-backed"

// Config configures a Service. Only Dir is required; the zero values of
// the others are the defaults.
type Config struct {
	// Dir is the service directory made by Init.
	Dir string
	// AllowSim makes the service accept evidence of the simulated
	// platform, checked against Dir/device.pub.
	AllowSim bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness for nonces, serials and signatures; nil
	// means crypto/rand.
	Rand io.Reader
	// CertLifetime is how long issued certificates are valid (never past
	// the policy's expiry or the CA's); zero means DefaultCertLifetime.
	CertLifetime time.Duration
	// NonceLifetime is how long a nonce may be used; zero means
	// DefaultNonceLifetime.
	NonceLifetime time.Duration
	// MaxNonces bounds the outstanding nonces; zero means DefaultMaxNonces.
	MaxNonces int
	// ReservedNonces of MaxNonces are kept for authenticated hosts:
	// anonymous callers together never hold more than MaxNonces minus
	// these. Zero means half of MaxNonces; negative means none.
	ReservedNonces int
	// AnonymousRate and AnonymousBurst bound the nonces one anonymous
	// client address (an IPv4 address, an IPv6 /64) gets: on average
	// AnonymousRate a second, AnonymousBurst at once. Zero means
	// DefaultAnonymousRate and DefaultAnonymousBurst.
	AnonymousRate  float64
	AnonymousBurst int
	// AnonymousTotalRate bounds the nonces all anonymous callers together
	// get a second (with a burst of twice as many); zero means
	// DefaultAnonymousTotalRate; negative refuses anonymous callers.
	AnonymousTotalRate float64
	// HostRate and HostBurst bound the nonces one authenticated host gets:
	// on average HostRate a second, HostBurst at once. Zero means
	// DefaultHostRate and DefaultHostBurst.
	HostRate  float64
	HostBurst int
	// Hosts are the hosts that may authenticate with a credential; nil
	// means those of Dir's hosts file (see AddHost).
	Hosts []HostRecord
	// AttestsAtOnce bounds the attestation requests read and checked at
	// once: anonymous callers share this many, authenticated hosts as many
	// more (each request may hold up to about 3×MaxRequestBytes while it
	// is decoded). One host may hold at most half the hosts' turns (at
	// least one; see HostTurns), so that a host sending slow bodies
	// cannot keep every other host's enclaves from attesting: beyond its
	// share it is refused at once as rate limited. A request waits up to
	// a second for its turn, then is refused as busy. Zero means
	// DefaultAttestsAtOnce.
	AttestsAtOnce int
	// RefusalDelay is how long a refusal of an anonymous caller's nonce
	// is held before it is sent (at most its Retry-After), so that a
	// flood waiting for answers costs the service goroutines, not CPU; at
	// most MaxHeldRefusals are held at once, the others are answered at
	// once. Zero means DefaultRefusalDelay; negative means none.
	RefusalDelay time.Duration
	// Verifiers are the verifiers of the platforms whose evidence the
	// service accepts, by platform (verifiers.All returns every
	// platform's); nil accepts none. A "sim" verifier here is used only
	// with AllowSim; without one, AllowSim checks sim evidence with the
	// simulated device's key in Dir.
	Verifiers map[string]attest.Verifier
	// Logger receives one line per issuance or refusal; nil discards.
	Logger *slog.Logger
	// Database is where the issuance log and the outstanding nonces are
	// kept: "" means the SQLite file Dir/log.db (one process serves); a
	// postgres:// URL means that PostgreSQL database, which several
	// replicas sharing Dir's CA may use at once (see OpenStore).
	Database string
	// CAKey, if set, signs certificates instead of Dir/ca.key (which may
	// then be absent): a key in an HSM (see package pas/hsm). Its public
	// key must be the CA certificate's.
	CAKey crypto.Signer
	// Collateral, if set, is the cache of vendor collateral verifiers
	// fetch through (give it to them, such as snp.Verifier.Fetch); Open
	// sets its Store to the service's when nil, and GET /v1/collateral
	// reports its freshness.
	Collateral *CollateralCache
}

// Service is an open attestation service. It is safe for concurrent use.
type Service struct {
	cfg   Config
	ca    *x509.Certificate
	caKey crypto.Signer
	store Store
	vs    map[string]attest.Verifier
	hosts *hostSet
	// anon limits each anonymous address, anonAll all of them together,
	// host each authenticated host.
	anon, anonAll, host *limiter
	// held counts the refusals being held back.
	held atomic.Int64
	// anonSlots and hostSlots are the turns of POST /v1/attest.
	anonSlots, hostSlots chan struct{}
	// turnsMu guards hostTurns: the turns each host holds or waits for,
	// by host name (absent when none).
	turnsMu   sync.Mutex
	hostTurns map[string]int
}

// HostTurns is how many of the attestation turns hosts share
// (attestsAtOnce) one host may hold or wait for at once: half, and at
// least one.
func HostTurns(attestsAtOnce int) int { return max(1, attestsAtOnce/2) }

// takeHostTurn counts one more request of host towards its share of the
// turns, or reports false if it holds its share already.
func (s *Service) takeHostTurn(host string) bool {
	s.turnsMu.Lock()
	defer s.turnsMu.Unlock()
	if s.hostTurns[host] >= HostTurns(s.cfg.AttestsAtOnce) {
		return false
	}
	s.hostTurns[host]++
	return true
}

// releaseHostTurn undoes takeHostTurn.
func (s *Service) releaseHostTurn(host string) {
	s.turnsMu.Lock()
	defer s.turnsMu.Unlock()
	if s.hostTurns[host]--; s.hostTurns[host] <= 0 {
		delete(s.hostTurns, host)
	}
}

// Open opens the service in cfg.Dir: its CA, its issuance log (checked
// before it is extended) and, with AllowSim, the simulated device's public
// key.
func Open(cfg Config) (*Service, error) {
	if cfg.Dir == "" {
		return nil, errors.New("no service directory given")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.CertLifetime <= 0 {
		cfg.CertLifetime = DefaultCertLifetime
	}
	if cfg.NonceLifetime <= 0 {
		cfg.NonceLifetime = DefaultNonceLifetime
	}
	if cfg.MaxNonces <= 0 {
		cfg.MaxNonces = DefaultMaxNonces
	}
	switch {
	case cfg.ReservedNonces == 0:
		cfg.ReservedNonces = cfg.MaxNonces / 2
	case cfg.ReservedNonces < 0:
		cfg.ReservedNonces = 0
	case cfg.ReservedNonces >= cfg.MaxNonces:
		return nil, fmt.Errorf("reserved nonces (%d) must be fewer than the most nonces outstanding (%d)", cfg.ReservedNonces, cfg.MaxNonces)
	}
	if cfg.AnonymousRate <= 0 {
		cfg.AnonymousRate = DefaultAnonymousRate
	}
	if cfg.AnonymousBurst <= 0 {
		cfg.AnonymousBurst = DefaultAnonymousBurst
	}
	if cfg.AnonymousTotalRate == 0 {
		cfg.AnonymousTotalRate = DefaultAnonymousTotalRate
	}
	if cfg.HostRate <= 0 {
		cfg.HostRate = DefaultHostRate
	}
	if cfg.HostBurst <= 0 {
		cfg.HostBurst = DefaultHostBurst
	}
	if cfg.RefusalDelay == 0 {
		cfg.RefusalDelay = DefaultRefusalDelay
	}
	if cfg.AttestsAtOnce <= 0 {
		cfg.AttestsAtOnce = DefaultAttestsAtOnce
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Hosts == nil {
		hosts, err := LoadHosts(cfg.Dir)
		if err != nil {
			return nil, err
		}
		cfg.Hosts = hosts
	}
	ca, key, err := loadCA(cfg.Dir, cfg.CAKey)
	if err != nil {
		return nil, err
	}
	vs := maps.Clone(cfg.Verifiers)
	if vs == nil {
		vs = map[string]attest.Verifier{}
	}
	if cfg.AllowSim {
		if _, ok := cfg.Verifiers[attest.SimPlatform]; !ok {
			pub, err := sim.LoadPublic(filepath.Join(cfg.Dir, DevicePubFile))
			if err != nil {
				return nil, fmt.Errorf("--allow-sim needs the simulated device key: %w", err)
			}
			vs[attest.SimPlatform] = sim.NewVerifier(pub)
		}
	} else {
		delete(vs, attest.SimPlatform)
	}
	st, err := OpenStore(context.Background(), cfg.Dir, cfg.Database)
	if err != nil {
		return nil, err
	}
	if cfg.Collateral != nil && cfg.Collateral.Store == nil {
		cfg.Collateral.Store = st
	}
	total := max(cfg.AnonymousTotalRate, 0)
	return &Service{cfg: cfg, ca: ca, caKey: key, store: st, vs: vs, hosts: newHostSet(cfg.Hosts),
		anon:      newLimiter(cfg.AnonymousRate, cfg.AnonymousBurst, maxLimiterKeys),
		anonAll:   newLimiter(total, int(math.Ceil(2*total)), 1),
		host:      newLimiter(cfg.HostRate, cfg.HostBurst, len(cfg.Hosts)+1),
		anonSlots: make(chan struct{}, cfg.AttestsAtOnce),
		hostSlots: make(chan struct{}, cfg.AttestsAtOnce),
		hostTurns: map[string]int{},
	}, nil
}

// CACert returns the service's CA certificate.
func (s *Service) CACert() *x509.Certificate { return s.ca }

// Log returns the store holding the issuance log.
func (s *Service) Log() Store { return s.store }

// Close closes the store.
func (s *Service) Close() error { return s.store.Close() }

// TLSConfig returns a TLS 1.3 server configuration with a fresh key and a
// certificate from the service's CA for hosts (DNS names or IP addresses).
func (s *Service) TLSConfig(hosts []string) (*tls.Config, error) {
	if len(hosts) == 0 {
		return nil, errors.New("no host names for the service certificate")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), s.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("generating the service TLS key: %w", err)
	}
	serial, err := randomSerial(s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "Truce attestation service", Organization: []string{"Truce"}},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     minTime(now.Add(365*24*time.Hour), s.ca.NotAfter),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(s.cfg.Rand, tmpl, s.ca, &key.PublicKey, s.caKey)
	if err != nil {
		return nil, fmt.Errorf("issuing the service TLS certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, s.ca.Raw}, PrivateKey: key}},
	}, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Handler returns the HTTP API:
//
//	POST /v1/nonce   → {"nonce": base64, "expires": RFC 3339}; hosts send
//	                   "Authorization: Bearer CREDENTIAL" (see AddHost)
//	POST /v1/attest  ← paswire.AttestRequest as JSON → certificate chain PEM (leaf first)
//	GET  /v1/ca      → the CA certificate PEM
//	GET  /v1/collateral → the cached vendor collateral's freshness (JSON)
//	GET  /healthz    → "ok" while the store answers (503 otherwise)
//
// Errors are RFC 9457 problem JSON (see paswire.ProblemError).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/nonce", s.handleNonce)
	mux.HandleFunc("POST /v1/attest", s.handleAttest)
	mux.HandleFunc("GET /v1/ca", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.Raw}))
	})
	mux.HandleFunc("GET /v1/collateral", s.handleCollateral)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.store.Ping(r.Context()); err != nil {
			s.cfg.Logger.Error("health check: store", "err", err)
			p := paswire.NewProblem(paswire.ProblemInternal, "the issuance log's database does not answer")
			p.Status = http.StatusServiceUnavailable
			writeProblem(w, p)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	allow := map[string]string{"/v1/nonce": "POST", "/v1/attest": "POST", "/v1/ca": "GET, HEAD", "/v1/collateral": "GET, HEAD", "/healthz": "GET, HEAD"}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		p := &paswire.ProblemError{Type: paswire.ProblemBase + paswire.ProblemBadRequest, Title: "No such endpoint", Status: http.StatusNotFound,
			Detail: r.Method + " " + r.URL.Path + ": use POST /v1/nonce, POST /v1/attest, GET /v1/ca or GET /healthz"}
		if a, ok := allow[r.URL.Path]; ok {
			w.Header().Set("Allow", a)
			p.Title, p.Status = "Method not allowed", http.StatusMethodNotAllowed
		}
		writeProblem(w, p)
	})
	return mux
}

// handleCollateral reports each cached vendor document's URL, fetch time,
// age and whether it is fresh: an empty list when nothing is cached or no
// cache is configured.
func (s *Service) handleCollateral(w http.ResponseWriter, r *http.Request) {
	status := []CollateralStatus{}
	if s.cfg.Collateral != nil {
		st, err := s.cfg.Collateral.Status(r.Context())
		if err != nil {
			s.cfg.Logger.Error("collateral status", "err", err)
			writeProblem(w, paswire.NewProblem(paswire.ProblemInternal, "the collateral cache could not be read"))
			return
		}
		status = append(status, st...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(status)
}

// NewNonce makes and remembers a fresh single-use nonce.
func (s *Service) NewNonce() ([]byte, time.Time, error) {
	return s.newNonce(context.Background())
}

func (s *Service) newNonce(ctx context.Context) ([]byte, time.Time, error) {
	return s.putNonce(ctx, s.cfg.Now(), s.cfg.MaxNonces)
}

// putNonce makes and remembers a nonce if fewer than limit are
// outstanding (paswire.ErrBusy otherwise).
func (s *Service) putNonce(ctx context.Context, now time.Time, limit int) ([]byte, time.Time, error) {
	var n [paswire.NonceSize]byte
	if _, err := io.ReadFull(s.cfg.Rand, n[:]); err != nil {
		return nil, time.Time{}, fmt.Errorf("generating a nonce: %w", err)
	}
	exp := now.Add(s.cfg.NonceLifetime)
	if err := s.store.PutNonce(ctx, n, exp, now, limit); err != nil {
		return nil, time.Time{}, err
	}
	return n[:], exp, nil
}

// errNonceStore marks a nonce refused because the store failed, not
// because of the nonce.
var errNonceStore = errors.New("nonce store failed")

// consumeNonce removes nonce and reports whether it was known and unexpired.
func (s *Service) consumeNonce(ctx context.Context, nonce []byte) error {
	if len(nonce) != paswire.NonceSize {
		return fmt.Errorf("nonce is %d bytes, want %d: get one from POST /v1/nonce", len(nonce), paswire.NonceSize)
	}
	now := s.cfg.Now()
	exp, ok, err := s.store.TakeNonce(context.WithoutCancel(ctx), [paswire.NonceSize]byte(nonce))
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", errNonceStore, err)
	case !ok:
		return errors.New("this service did not issue the nonce, or it was used already: get a fresh one from POST /v1/nonce")
	case !now.Before(exp):
		return fmt.Errorf("the nonce expired at %s: get a fresh one and attest within %v", exp.UTC().Format(time.RFC3339), s.cfg.NonceLifetime)
	}
	return nil
}

// caller is who asks for a nonce: a host by name, or an anonymous
// client address.
type caller struct {
	host, addr string
}

// authenticate reads the request's credential, if any. A credential that
// is not a host's is refused: a misconfigured host hears of it at once
// rather than being served as anonymous.
func (s *Service) authenticate(r *http.Request) (caller, *paswire.ProblemError) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return caller{addr: clientKey(r.RemoteAddr)}, nil
	}
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return caller{}, paswire.NewProblem(paswire.ProblemUnauthenticated, "the Authorization header must be \"Bearer CREDENTIAL\": give the host the credential \"truce pas host add\" made (truce host serve --pas-credential FILE), or send no Authorization header to be served as an anonymous caller")
	}
	name, ok := s.hosts.lookup(strings.TrimSpace(cred))
	if !ok {
		return caller{}, paswire.NewProblem(paswire.ProblemUnauthenticated, "the credential is not one of this service's hosts: check the file given to --pas-credential, or make one with \"truce pas host add NAME\" (and restart the service so that it reads it)")
	}
	return caller{host: name}, nil
}

// admit takes a nonce's worth of c's limits, or says why not.
func (s *Service) admit(c caller, now time.Time) *paswire.ProblemError {
	if c.host != "" {
		if ok, wait := s.host.allow(c.host, now); !ok {
			p := paswire.NewProblem(paswire.ProblemRateLimited, fmt.Sprintf("host %q asked for more than %g nonces a second (%d at once): retry after the delay in Retry-After; a host needs one nonce per attestation", c.host, s.cfg.HostRate, s.cfg.HostBurst))
			p.RetryAfter = wait
			return p
		}
		return nil
	}
	if ok, wait := s.anon.allow(c.addr, now); !ok {
		p := paswire.NewProblem(paswire.ProblemRateLimited, fmt.Sprintf("anonymous callers get at most %g nonces a second from one address (%d at once), and %s asked for more: retry after the delay in Retry-After, or authenticate the host with a credential (truce pas host add NAME on the service; truce host serve --pas-credential FILE)", s.cfg.AnonymousRate, s.cfg.AnonymousBurst, c.addr))
		p.RetryAfter = wait
		return p
	}
	if ok, wait := s.anonAll.allow("", now); !ok {
		p := paswire.NewProblem(paswire.ProblemBusy, fmt.Sprintf("anonymous callers together get at most %g nonces a second, and that many were handed out: retry after the delay in Retry-After, or authenticate the host with a credential (truce pas host add NAME on the service; truce host serve --pas-credential FILE), which keeps its own share", max(s.cfg.AnonymousTotalRate, 0)))
		p.RetryAfter = max(wait, time.Second)
		return p
	}
	return nil
}

// hold delays a refusal by RefusalDelay (at most retry), unless
// MaxHeldRefusals are held already or the caller goes away.
func (s *Service) hold(ctx context.Context, retry time.Duration) {
	d := min(s.cfg.RefusalDelay, retry)
	if d <= 0 {
		return
	}
	if s.held.Add(1) > MaxHeldRefusals {
		s.held.Add(-1)
		return
	}
	defer s.held.Add(-1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *Service) handleNonce(w http.ResponseWriter, r *http.Request) {
	c, p := s.authenticate(r)
	if p != nil {
		s.refuse(w, r, p)
		return
	}
	now := s.cfg.Now()
	if p := s.admit(c, now); p != nil {
		if c.host == "" {
			s.hold(r.Context(), p.RetryAfter)
		}
		writeProblem(w, p)
		return
	}
	limit := s.cfg.MaxNonces
	if c.host == "" {
		limit -= s.cfg.ReservedNonces
	}
	n, exp, err := s.putNonce(r.Context(), now, limit)
	if errors.Is(err, paswire.ErrBusy) {
		detail := fmt.Sprintf("%d nonces are outstanding, the most this service holds: retry after the delay in Retry-After (nonces expire %v after they are made)", s.cfg.MaxNonces, s.cfg.NonceLifetime)
		if c.host == "" {
			detail = fmt.Sprintf("anonymous callers hold %d outstanding nonces, the most they may (%d more are kept for authenticated hosts): retry after the delay in Retry-After, or authenticate the host with a credential (truce pas host add NAME; truce host serve --pas-credential FILE)", limit, s.cfg.ReservedNonces)
		}
		p := paswire.NewProblem(paswire.ProblemBusy, detail)
		p.RetryAfter = 5 * time.Second
		if c.host == "" {
			s.hold(r.Context(), p.RetryAfter)
		}
		writeProblem(w, p)
		return
	} else if err != nil {
		s.cfg.Logger.Error("nonce", "err", err)
		writeProblem(w, paswire.NewProblem(paswire.ProblemInternal, "could not make a nonce"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(paswire.NonceResponse{Nonce: n, Expires: exp.UTC()})
}

// attestTurn is how long a request waits for its turn to be read.
const attestTurn = time.Second

func (s *Service) handleAttest(w http.ResponseWriter, r *http.Request) {
	c, p := s.authenticate(r)
	if p != nil {
		s.refuse(w, r, p)
		return
	}
	slots := s.anonSlots
	if c.host != "" {
		// The host's share is counted before it waits for a shared turn:
		// waiting requests count too, so a host cannot queue up more.
		if !s.takeHostTurn(c.host) {
			n := HostTurns(s.cfg.AttestsAtOnce)
			p := paswire.NewProblem(paswire.ProblemRateLimited, fmt.Sprintf("host %q has %d attestation requests being read or checked, the most one host may have at once (of the %d hosts share): wait for them to finish, or close them, and retry after the delay in Retry-After", c.host, n, s.cfg.AttestsAtOnce))
			p.RetryAfter = time.Second
			s.refuse(w, r, p)
			return
		}
		defer s.releaseHostTurn(c.host)
		slots = s.hostSlots
	}
	t := time.NewTimer(attestTurn)
	select {
	case slots <- struct{}{}:
		t.Stop()
		defer func() { <-slots }()
	case <-t.C:
		p := paswire.NewProblem(paswire.ProblemBusy, fmt.Sprintf("%d attestation requests are being checked, the most at once: retry after the delay in Retry-After", s.cfg.AttestsAtOnce))
		if c.host == "" {
			p.Detail += ", or authenticate the host with a credential (truce pas host add NAME; truce host serve --pas-credential FILE), which has turns of its own"
		}
		p.RetryAfter = time.Second
		writeProblem(w, p)
		return
	case <-r.Context().Done():
		t.Stop()
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
	var req paswire.AttestRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		s.refuse(w, r, paswire.NewProblem(paswire.ProblemBadRequest, "the body must be one JSON object with platform, evidence, csr, nonce and policy: "+err.Error()))
		return
	}
	chain, p := s.Attest(r.Context(), req)
	if p != nil {
		s.refuse(w, r, p)
		return
	}
	w.Header().Set("Content-Type", "application/pem-certificate-chain")
	w.Header().Set("Cache-Control", "no-store")
	for _, c := range chain {
		w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
}

func (s *Service) refuse(w http.ResponseWriter, r *http.Request, p *paswire.ProblemError) {
	s.cfg.Logger.Warn("attestation refused", "remote", r.RemoteAddr, "problem", p.Kind(), "detail", p.Detail)
	writeProblem(w, p)
}

// serviceHints are the hints of the attestation service's refusals of
// evidence, written for the host's operator, where they differ from those
// attest.ExplainEvidence writes for a client.
var serviceHints = map[string]string{
	attest.RuleEvidence: "the evidence does not verify: check the platform, its firmware and the vendor collateral (truce evidence verify runs the same check offline)",
	attest.RulePlatform: "the request names another platform than its evidence: the host relays evidence of the platform it runs on",
	attest.RuleBinding:  "the evidence binds another key, policy or nonce: it was made for another request, or replayed",
}

// Attest runs every check on req and, if all pass, issues and logs the
// certificate and returns the chain (leaf, CA). The nonce is consumed
// whatever the outcome.
func (s *Service) Attest(ctx context.Context, req paswire.AttestRequest) ([]*x509.Certificate, *paswire.ProblemError) {
	if err := s.consumeNonce(ctx, req.Nonce); errors.Is(err, errNonceStore) {
		s.cfg.Logger.Error("nonce store", "err", err)
		return nil, paswire.NewProblem(paswire.ProblemInternal, "the nonce could not be checked: get a fresh one and retry")
	} else if err != nil {
		return nil, paswire.NewProblem(paswire.ProblemBadNonce, err.Error())
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err != nil {
		return nil, paswire.NewProblem(paswire.ProblemBadCSR, "csr is not a DER certificate signing request: "+err.Error())
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, paswire.NewProblem(paswire.ProblemBadCSR, "the CSR's signature does not verify: "+err.Error())
	}
	if err := tlsKey(csr.PublicKey); err != nil {
		return nil, paswire.NewProblem(paswire.ProblemBadCSR, err.Error())
	}
	now := s.cfg.Now()
	pol, err := policy.Parse(req.Policy, now)
	if err != nil {
		return nil, paswire.NewProblem(paswire.ProblemBadPolicy, err.Error())
	}
	if !pol.CACertificate().Equal(s.ca) {
		return nil, paswire.NewProblem(paswire.ProblemBadPolicy, "the policy pins another attestation service's CA (attestation.ca_cert): send it to that service, or pin this one's ca.crt")
	}
	v, ok := s.vs[req.Platform]
	if !ok {
		detail := fmt.Sprintf("this service does not accept evidence of platform %q", req.Platform)
		if req.Platform == attest.SimPlatform {
			detail += ": start it with --allow-sim to accept the simulated platform"
		}
		return nil, paswire.NewProblem(paswire.ProblemUnsupportedPlatform, detail)
	}
	steps, claims := attest.ExplainEvidence(v, pol, attest.EvidenceCheck{Platform: req.Platform, Evidence: req.Evidence,
		Key: csr.RawSubjectPublicKeyInfo, PolicyHash: pol.Hash(), Nonce: req.Nonce, Hints: serviceHints}, now)
	var verdict *attest.Verdict
	if errors.As(attest.Refusal(steps), &verdict) {
		return nil, verdictProblem(verdict)
	}
	id := attest.Identity{Platform: claims.Platform, Measurement: claims.Measurement, PolicyHash: pol.Hash(),
		Simulated: claims.Simulated || claims.Platform == attest.SimPlatform, TCB: claims.TCB}
	leaf, err := s.issue(ctx, now, csr, pol, id)
	if errors.Is(err, paswire.ErrSecondInstance) {
		s.cfg.Logger.Warn("second enclave instance refused", "policy", pol.HashHex(), "err", err)
		return nil, paswire.NewProblem(paswire.ProblemSecondInstance, err.Error())
	}
	if err != nil {
		s.cfg.Logger.Error("issuance failed", "err", err)
		return nil, paswire.NewProblem(paswire.ProblemInternal, "the certificate could not be issued and logged; nothing was issued: retry")
	}
	return []*x509.Certificate{leaf, s.ca}, nil
}

func tlsKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
	case ed25519.PublicKey:
		return nil
	}
	return fmt.Errorf("the CSR's key is a %T: use ECDSA P-256 or P-384, or Ed25519", pub)
}

// issue signs the certificate, appends it to the log and only then
// returns it.
func (s *Service) issue(ctx context.Context, now time.Time, csr *x509.CertificateRequest, pol *policy.Policy, id attest.Identity) (*x509.Certificate, error) {
	ext, err := id.Extension()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial(s.cfg.Rand)
	if err != nil {
		return nil, err
	}
	notAfter := minTime(minTime(now.Add(s.cfg.CertLifetime), pol.Expires), s.ca.NotAfter)
	subj := pkix.Name{CommonName: commonName(pol.Name), Organization: []string{"Truce enclave"}}
	if id.Simulated {
		subj.OrganizationalUnit = []string{SimulatedOU}
	}
	spkiHash := sha256.Sum256(csr.RawSubjectPublicKeyInfo)
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         subj,
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        notAfter,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		ExtraExtensions: []pkix.Extension{ext},
		SubjectKeyId:    spkiHash[:20],
	}
	host, _, err := net.SplitHostPort(pol.Host)
	if err != nil {
		return nil, fmt.Errorf("policy host %q: %w", pol.Host, err)
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(s.cfg.Rand, tmpl, s.ca, csr.PublicKey, s.caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the enclave certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("reading back the enclave certificate: %w", err)
	}
	appendEntry := s.store.Append
	if pol.Attestation.SingleInstance {
		appendEntry = s.store.AppendSingle
	}
	e, err := appendEntry(ctx, now, hex.EncodeToString(serial.Bytes()), id, der)
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Info("certificate issued", "seq", e.Seq, "serial", e.Serial, "platform", id.Platform,
		"measurement", hex.EncodeToString(id.Measurement), "policy", pol.HashHex(), "simulated", id.Simulated,
		"enclave_key", hex.EncodeToString(spkiHash[:]))
	return cert, nil
}

func commonName(name string) string {
	cn := "Truce enclave: " + name
	if len(cn) > 64 { // the X.520 upper bound
		cn = strings.ToValidUTF8(cn[:64], "")
	}
	return cn
}
