// Package pastest runs an in-process attestation service over loopback
// HTTPS for tests, with its simulated device and a policy pinning its CA.
//
// It is for tests only: its directory is a temporary one and it always
// accepts the simulated platform unless told otherwise.
package pastest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/paswire"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
)

// Server is a running test service.
type Server struct {
	// URL is the service's base URL (https://127.0.0.1:PORT).
	URL string
	// Dir is the service directory.
	Dir string
	// Service is the open service.
	Service *pas.Service
	// Device is the simulated device the service trusts.
	Device *simprovider.Device
	// HTTP is the underlying test server.
	HTTP *httptest.Server

	client *paswire.Client
}

// Options tune Start; the zero value accepts sim with default lifetimes.
type Options struct {
	// RefuseSim starts the service without AllowSim.
	RefuseSim bool
	// Dir, if set, is an existing service directory to serve (a replica
	// of another Server, with Config.Database shared); otherwise a new
	// one is made.
	Dir string
	// Config fields other than Dir and AllowSim are passed on. The
	// per-caller nonce rates left zero are set high (a million a second),
	// since every test client is one anonymous loopback address; set them
	// to test the limits. Refusals are not held back unless RefusalDelay
	// is set.
	Config pas.Config
}

// unlimited is the nonce rate tests get unless they set one.
const unlimited = 1e6

// Start initialises a service in a temporary directory and serves it on
// loopback until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dir := o.Dir
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "pas")
		if err := pas.Init(dir, nil); err != nil {
			t.Fatal(err)
		}
	}
	cfg := o.Config
	cfg.Dir, cfg.AllowSim = dir, !o.RefuseSim
	if cfg.AnonymousRate == 0 && cfg.AnonymousBurst == 0 {
		cfg.AnonymousRate, cfg.AnonymousBurst = unlimited, unlimited
	}
	if cfg.AnonymousTotalRate == 0 {
		cfg.AnonymousTotalRate = unlimited
	}
	if cfg.RefusalDelay == 0 {
		cfg.RefusalDelay = -1
	}
	if cfg.HostRate == 0 && cfg.HostBurst == 0 {
		cfg.HostRate, cfg.HostBurst = unlimited, unlimited
	}
	s, err := pas.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := s.TLSConfig([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.TLS = tc
	hs.StartTLS()
	dev, err := simprovider.LoadDevice(filepath.Join(dir, pas.DeviceKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return &Server{URL: hs.URL, Dir: dir, Service: s, Device: dev, HTTP: hs, client: &paswire.Client{URL: hs.URL, CA: s.CACert()}}
}

// CA returns the service's CA certificate.
func (s *Server) CA() *x509.Certificate { return s.Service.CACert() }

// CAPEM returns the service's CA certificate as PEM, as policies pin it.
func (s *Server) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.CA().Raw})
}

// Client returns a client that trusts the service's CA (the same one on
// every call, so connections are reused).
func (s *Server) Client() *paswire.Client { return s.client }

// Provider returns a provider of the service's simulated device reporting
// measurement.
func (s *Server) Provider(measurement []byte) attest.Provider {
	return simprovider.NewProvider(s.Device, measurement)
}

// PolicyBytes returns a valid policy pinning the service's CA and URL and
// trusting the sim measurements given.
func (s *Server) PolicyBytes(t testing.TB, simMeasurements ...[]byte) []byte {
	t.Helper()
	o := attesttest.PolicyOptions{CACertPEM: s.CAPEM(), Service: s.URL}
	for _, m := range simMeasurements {
		o.Runtimes = append(o.Runtimes, attesttest.Runtime{Platform: attest.SimPlatform, Measurement: m})
	}
	return attesttest.PolicyBytes(t, o)
}

// Attest runs one whole attestation with a fresh P-256 key: nonce,
// evidence from prov, certificate. It returns the key and the chain.
func (s *Server) Attest(ctx context.Context, prov attest.Provider, policyBytes []byte) (*ecdsa.PrivateKey, []*x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	c := s.Client()
	nonce, err := c.Nonce(ctx)
	if err != nil {
		return nil, nil, err
	}
	req, err := paswire.NewRequest(ctx, prov, key, policyBytes, nonce, nil)
	if err != nil {
		return nil, nil, err
	}
	chain, err := c.Attest(ctx, req)
	return key, chain, err
}
