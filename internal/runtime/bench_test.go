package runtime

import (
	"net/http"
	"testing"

	"github.com/truce-project/truce/api"
)

// BenchmarkRunShamir measures one run of the Shamir program through the
// whole API over TLS (HTTP/2, connection reused): request, readiness
// checks, hashing inputs and outputs, the run (compiled module cached) and
// signing the receipt.
func BenchmarkRunShamir(b *testing.B) {
	w := newWorld(b, worldOptions{})
	w.start()
	w.uploadShamir([]byte("benchmark secret"))
	rita := w.client("rita", true)
	rita.run(pShamir, http.StatusOK) // compile once
	b.ResetTimer()
	for b.Loop() {
		rita.run(pShamir, http.StatusOK)
	}
}

// BenchmarkWrite1MiB measures replacing a 1 MiB file through the API over
// TLS (HTTP/2): transfer, quota check, atomic swap, hashing.
func BenchmarkWrite1MiB(b *testing.B) {
	w := newWorld(b, worldOptions{})
	w.start()
	bob := w.client("bob", true)
	data := make([]byte, 1<<20)
	bob.must(http.MethodPut, api.PathFiles+"data/big.dat", data, http.StatusCreated)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		bob.must(http.MethodPut, api.PathFiles+"data/big.dat", data, http.StatusOK)
	}
}
