package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/truce-project/truce/internal/pas"
)

// TestServeAndStop serves a fresh service on a free port, over TLS with a
// certificate from the service's CA, and stops cleanly when the context
// ends.
func TestServeAndStop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Config: pas.Config{Dir: dir, AllowSim: true}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	caPEM, err := os.ReadFile(filepath.Join(dir, pas.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := hc.Get("https://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s %q", resp.Status, body)
	}
	hc.CloseIdleConnections()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve after the context ended: %v", err)
	}
	if n, _ := s.Service().Log().Head(); n != 0 {
		t.Errorf("log of a service that issued nothing has %d entries", n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Serve: %v", err)
	}
}

// TestNewErrors: an uninitialised directory and an address in use are
// told apart.
func TestNewErrors(t *testing.T) {
	if _, err := New(Config{Config: pas.Config{Dir: t.TempDir()}, Listen: "127.0.0.1:0"}); !errors.Is(err, pas.ErrNotInitialised) {
		t.Errorf("empty directory: %v, want ErrNotInitialised", err)
	}
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := New(Config{Config: pas.Config{Dir: dir}, Listen: ln.Addr().String()}); !errors.Is(err, ErrListen) {
		t.Errorf("address in use: %v, want ErrListen", err)
	}
	if _, err := New(Config{Config: pas.Config{Dir: dir}, Listen: "no port"}); !errors.Is(err, ErrListen) {
		t.Errorf("address without port: %v, want ErrListen", err)
	}
}

// TestTLSNames names loopback, the listen host and the extra names once
// each.
func TestTLSNames(t *testing.T) {
	got, err := tlsNames("10.0.0.5:3010", []string{" pas.example ", "localhost", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"localhost", "127.0.0.1", "::1", "10.0.0.5", "pas.example"}
	if !slices.Equal(got, want) {
		t.Errorf("tlsNames = %v, want %v", got, want)
	}
	got, err = tlsNames(":3010", nil)
	if err != nil {
		t.Fatal(err)
	}
	if hn, err := os.Hostname(); err == nil && !slices.Contains(got, hn) {
		t.Errorf("tlsNames on every address = %v, want this machine's name %q", got, hn)
	}
}
