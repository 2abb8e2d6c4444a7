// Package server serves the attestation service (package pas) over HTTPS,
// as "truce pas serve" runs it: it opens the service, issues the
// service's TLS certificate from its CA, listens, and shuts down
// gracefully; with Config.FetchCollateral it wires the vendor collateral
// fetchers (AMD's KDS, Intel's PCS) into the service's verifiers.
//
// It is apart from package pas so that pas links no vendor verifier
// (which register themselves with package attest when linked) and no HTTP
// server loop; it must never be imported by the host, the runtime or
// clients. Only Main, which "truce pas serve" calls, prints: what it
// serves, to MainConfig.Stdout.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/dcap"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/snp"
	"github.com/truce-project/truce/attest/tdx"
	"github.com/truce-project/truce/attest/verifiers"
	"github.com/truce-project/truce/internal/pas"
)

// DefaultListen is the address Config.Listen defaults to.
const DefaultListen = "127.0.0.1:3010"

// ShutdownTimeout is how long Server.Serve waits for requests in flight
// once its context is done.
const ShutdownTimeout = 10 * time.Second

// ErrListen is wrapped by New's error when the listen address cannot
// be listened on (bad, or in use).
var ErrListen = errors.New("cannot listen")

// Config configures a Server: the service (pas.Config, whose Dir is
// required; the zero values of its other fields are its defaults) and how
// it is served, whose zero values are the defaults too.
type Config struct {
	pas.Config
	// Listen is the host:port to listen on; "" means DefaultListen, and
	// port 0 picks a free port (see Server.Addr).
	Listen string
	// Names are extra DNS names or IP addresses for the service's TLS
	// certificate. It always names localhost, 127.0.0.1 and ::1, and the
	// listen host, or this machine's host name when listening on every
	// address.
	Names []string
	// FetchCollateral makes the service fetch what evidence lacks from
	// the vendors: SEV-SNP VCEKs from AMD's Key Distribution Service, TDX
	// and SGX collateral from Intel's Provisioning Certification Service,
	// through a CollateralCache kept in the service's store. It replaces
	// pas.Config.Collateral and the snp, tdx and sgx entries of
	// pas.Config.Verifiers.
	FetchCollateral bool
}

// Server is an attestation service served over HTTPS, as "truce pas
// serve" runs it. Make one with New, run it with Serve.
type Server struct {
	svc *pas.Service
	ln  net.Listener
	srv *http.Server
}

// New opens the service of cfg.Dir (see pas.Open, whose errors it
// wraps), issues its TLS certificate and listens. The caller must Close
// it, after Serve or instead.
func New(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	names, err := tlsNames(cfg.Listen, cfg.Names)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Verifiers == nil {
		// Every hardware platform's verifier (sim comes from the
		// service's own device key, with AllowSim).
		cfg.Verifiers = verifiers.All(verifiers.Options{})
	}
	if cfg.FetchCollateral {
		cfg.Collateral, cfg.Verifiers = vendorCollateral(cfg.Logger, cfg.Verifiers)
	}
	svc, err := pas.Open(cfg.Config)
	if err != nil {
		return nil, err
	}
	tc, err := svc.TLSConfig(names)
	if err != nil {
		svc.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		svc.Close()
		return nil, fmt.Errorf("%w on %s: %w", ErrListen, cfg.Listen, err)
	}
	srv := &http.Server{Handler: svc.Handler(), TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	return &Server{svc: svc, ln: ln, srv: srv}, nil
}

// Addr is the address the server listens on, its port chosen when the
// configuration asked for port 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Service is the service the server serves.
func (s *Server) Service() *pas.Service { return s.svc }

// Serve serves HTTPS until ctx is done, then stops taking connections and
// waits up to ShutdownTimeout for the requests in flight. It returns nil
// after a clean stop. The service stays open (its log may be read) until
// Close.
func (s *Server) Serve(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.srv.ServeTLS(s.ln, "", "") }()
	select {
	case err := <-done:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	return nil
}

// Close closes the listener, if Serve has not, and the service.
func (s *Server) Close() error {
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return errors.Join(err, s.svc.Close())
}

// tlsNames are the names of the service's TLS certificate: the loopback
// names, the listen host (or this machine's name when it listens on every
// address) and extra, without duplicates.
func tlsNames(listen string, extra []string) ([]string, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not host:port: %w", ErrListen, listen, err)
	}
	names := []string{"localhost", "127.0.0.1", "::1"}
	if host != "" && !net.ParseIP(host).IsUnspecified() {
		names = append(names, host)
	} else if hn, err := os.Hostname(); err == nil {
		names = append(names, hn)
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range append(names, extra...) {
		if n = strings.TrimSpace(n); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// kdsPrefix starts the URLs of AMD's Key Distribution Service.
const kdsPrefix = "https://kdsintf.amd.com/"

// vendorCollateral is the cache of vendor collateral fetched from AMD and
// Intel, and verifiers (those of vs, with snp, tdx and sgx replaced) that
// fetch through it. The service gives the cache its store when it opens.
func vendorCollateral(logger *slog.Logger, vs map[string]attest.Verifier) (*pas.CollateralCache, map[string]attest.Verifier) {
	intel := dcap.PCSGetter(nil)
	fetch := vendorGetter{{kdsPrefix, snp.KDSGetter()}, {dcap.PCSBase + "/", intel}, {dcap.RootCRLURL, intel}}
	cache := &pas.CollateralCache{Fetch: fetch, Logger: logger}
	out := map[string]attest.Verifier{}
	for p, v := range vs {
		out[p] = v
	}
	out[snp.Platform] = &snp.Verifier{Fetch: cache}
	out[tdx.Platform] = &tdx.Verifier{Fetch: cache}
	out[sgx.Platform] = sgx.Verifier{Fetch: cache}
	return cache, out
}

// vendorGetter hands each URL to the getter of the first prefix it
// starts with: AMD's KDS answers with the document, Intel's PCS getter
// keeps the issuer chain its responses carry in a header.
type vendorGetter []struct {
	prefix string
	get    pas.Getter
}

func (g vendorGetter) Get(url string) ([]byte, error) {
	for _, v := range g {
		if strings.HasPrefix(url, v.prefix) {
			return v.get.Get(url)
		}
	}
	return nil, fmt.Errorf("%s is not a URL of AMD's KDS or Intel's PCS", url)
}
