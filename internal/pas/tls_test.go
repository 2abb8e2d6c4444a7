package pas_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/internal/pas/pastest"
	"github.com/truce-project/truce/policy"
)

// TestIssuedCertificateServesTLS: an enclave serving TLS 1.3 with the
// issued chain is accepted by a client that checks it with
// attest.CheckEnclave, and refused by one whose policy trusts another
// measurement.
func TestIssuedCertificateServesTLS(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{})
	polBytes := srv.PolicyBytes(t, meas)
	pol, err := policy.Parse(polBytes, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	key, chain, err := srv.Attest(context.Background(), srv.Provider(meas), polBytes)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{chain[0].Raw, chain[1].Raw}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "hello")
			c.Close()
		}
	}()
	dial := func(p *policy.Policy) error {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
			MinVersion: tls.VersionTLS13, ServerName: "127.0.0.1",
			RootCAs: rootsOf(p),
			VerifyConnection: func(cs tls.ConnectionState) error {
				_, err := attest.CheckEnclave(cs.PeerCertificates, p, time.Now())
				return err
			},
		})
		if err != nil {
			return err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		if err == nil && string(b) != "hello" {
			err = errors.New("wrong greeting")
		}
		return err
	}
	if err := dial(pol); err != nil {
		t.Fatalf("client refused the enclave: %v", err)
	}
	otherPol, err := policy.Parse(srv.PolicyBytes(t, make([]byte, 32)), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(otherPol); !errors.Is(err, attest.ErrPolicyMismatch) {
		t.Fatalf("a client with another policy: %v, want ErrPolicyMismatch", err)
	}
}

func rootsOf(p *policy.Policy) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CACertificate())
	return pool
}
