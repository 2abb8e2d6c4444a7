package pas_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/pastest"
)

// BenchmarkAttestRoundTrip measures one whole attestation over loopback
// HTTPS: nonce, key and CSR, sim evidence, the service's checks, issuance
// and the durable log append.
func BenchmarkAttestRoundTrip(b *testing.B) {
	srv := pastest.Start(b, pastest.Options{})
	polBytes := srv.PolicyBytes(b, meas)
	prov := srv.Provider(meas)
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := srv.Attest(ctx, prov, polBytes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPSRoundTrip is the baseline: one bare request to the same
// service over the same loopback HTTPS connection pool.
func BenchmarkHTTPSRoundTrip(b *testing.B) {
	srv := pastest.Start(b, pastest.Options{})
	hc := &http.Client{Transport: srv.HTTP.Client().Transport}
	for b.Loop() {
		resp, err := hc.Get(srv.URL + "/healthz")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkNonce is one POST /v1/nonce.
func BenchmarkNonce(b *testing.B) {
	srv := pastest.Start(b, pastest.Options{Config: pas.Config{MaxNonces: 1 << 24}})
	c := srv.Client()
	for b.Loop() {
		if _, err := c.Nonce(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueParallel measures whole attestations from parallel clients
// against one replica, with the log and nonces in SQLite (the default) and
// in PostgreSQL (a local cluster started for the benchmark): the figure
// behind the capacity plan's issuances per second per replica.
func BenchmarkIssueParallel(b *testing.B) {
	run := func(b *testing.B, cfg pas.Config) {
		srv := pastest.Start(b, pastest.Options{Config: cfg})
		polBytes := srv.PolicyBytes(b, meas)
		prov := srv.Provider(meas)
		ctx := context.Background()
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := srv.Attest(ctx, prov, polBytes); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.Run("sqlite", func(b *testing.B) { run(b, pas.Config{}) })
	b.Run("postgres", func(b *testing.B) {
		pg := pastest.StartPostgres(b)
		run(b, pas.Config{Database: pg.NewDatabase(b)})
	})
}
