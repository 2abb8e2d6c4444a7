package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"testing"
	"time"

	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	"github.com/truce-project/truce/internal/deployment/deploymenttest"
	"github.com/truce-project/truce/internal/trucetest"
)

const uploadSize = 256 << 20

// plainTLS serves a TLS 1.3 sink on loopback: the baseline a relay and an
// enclave are measured against.
func plainTLS(b *testing.B) (addr string, cfg *tls.Config) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sink"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"sink"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(io.Discard, c)
				c.Write([]byte{1})
			}()
		}
	}()
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "sink", MinVersion: tls.VersionTLS13}
}

func plainUpload(b *testing.B, addr string, cfg *tls.Config) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := io.Copy(c, trucetest.Pattern(uploadSize)); err != nil {
		b.Fatal(err)
	}
	c.CloseWrite()
	var one [1]byte
	io.ReadFull(c, one[:])
}

// BenchmarkUpload256MiB uploads 256 MiB through host and runtime, and the
// same over a plain Go TLS 1.3 connection on the same loopback, and
// reports both throughputs and their ratio (truce/plain).
func BenchmarkUpload256MiB(b *testing.B) {
	r := startStory(b, storyOptions{})
	ctx := context.Background()
	alice := r.dial(b, "alice")
	addr, cfg := plainTLS(b)
	var truceTime, plainTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := alice.Put(ctx, "/input/shamir-0.dat", trucetest.Pattern(uploadSize)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		plainUpload(b, addr, cfg)
		truceTime += t1.Sub(t0)
		plainTime += time.Since(t1)
	}
	mb := float64(uploadSize) / (1 << 20) * float64(b.N)
	b.ReportMetric(mb/truceTime.Seconds(), "truce-MiB/s")
	b.ReportMetric(mb/plainTime.Seconds(), "plain-tls-MiB/s")
	b.ReportMetric(plainTime.Seconds()/truceTime.Seconds(), "truce/plain")
}

// job uploads the program and shares, runs, fetches and checks the result.
func job(b *testing.B, r *running, withProgram bool) {
	ctx := context.Background()
	secret := []byte("benchmark secret")
	shares := split(b, secret)
	sessions := map[string]*client.Session{}
	for _, n := range []string{"oscar", "alice", "bob", "carol", "dave"} {
		s, err := client.Dial(ctx, r.s.pol, r.s.parties[n].id)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		sessions[n] = s
	}
	if withProgram {
		if _, err := sessions["oscar"].Put(ctx, shamir.Path, bytes.NewReader(shamir.Wasm)); err != nil {
			b.Fatal(err)
		}
	}
	for i, n := range shareNames {
		if _, err := sessions[n].Put(ctx, fmt.Sprintf("/input/shamir-%d.dat", i), bytes.NewReader(shares[i])); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := sessions["dave"].Run(ctx, shamir.Path); err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := sessions["dave"].Get(ctx, "/output/shamir.dat", &out); err != nil || !bytes.Equal(out.Bytes(), secret) {
		b.Fatalf("result %q, %v", out.Bytes(), err)
	}
}

// BenchmarkSmallJob is the latency of a whole Shamir job: five parties
// dial and check the enclave, upload, run, fetch. Cold includes starting
// the host and runtime, the attestation and the program upload (and its
// first compilation); warm reuses a running enclave with the program in
// place.
func BenchmarkSmallJob(b *testing.B) {
	b.Run("cold", func(b *testing.B) {
		ps := startPAS(b)
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			addr := deploymenttest.FreeAddr(b)
			s := newStory(b, ps, storyOptions{hostAddr: addr})
			b.StartTimer()
			h := startHost(b, ps, addr, []string{s.polFile})
			r := &running{ps: ps, s: s, h: h}
			job(b, r, true)
			b.StopTimer()
			h.Stop()
			b.StartTimer()
		}
	})
	b.Run("warm", func(b *testing.B) {
		r := startStory(b, storyOptions{})
		job(b, r, true)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			job(b, r, false)
		}
	})
}
