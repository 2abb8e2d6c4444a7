package host_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/client"
)

// sink discards uploads: what remains is client, TLS and relay cost.
type sink struct{ pol []byte }

func (s sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == api.PathPolicy {
		w.Write(s.pol)
		return
	}
	n, _ := io.Copy(io.Discard, r.Body)
	json.NewEncoder(w).Encode(api.FileResult{Size: n})
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// BenchmarkRelayUpload measures an SDK upload through the host's relay to
// a fake runtime that discards the bytes (64 MiB per op): the cost of the
// client, TLS and the relay, without the enclave's file system.
func BenchmarkRelayUpload(b *testing.B) {
	const size = 64 << 20
	r := startWith(b, 0, func(pol []byte) http.Handler { return sink{pol: pol} }, nil)
	r.waitReady(b)
	ctx := context.Background()
	s, err := client.Dial(ctx, r.w.Policy, r.w.IDs["alice"], client.WithAddr(r.addr))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Put(ctx, "/input/x", io.LimitReader(zeros{}, size)); err != nil {
			b.Fatal(err)
		}
	}
}
