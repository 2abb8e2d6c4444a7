package runtime

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/truce-project/truce/api"
)

// brokenBody yields some bytes, then fails as a bad chunked encoding does.
type brokenBody struct{ sent bool }

func (b *brokenBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "partial"), nil
	}
	return 0, errors.New("invalid byte in chunk length")
}

// TestBrokenBodyIsBadRequest: a body the client breaks (bad chunking, cut
// short) is the client's error, 400 bad-request, not a 500, and nothing
// is stored. Regression test: it was reported as a 500 server failure.
func TestBrokenBodyIsBadRequest(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.start()
	for _, body := range []io.Reader{&brokenBody{}, io.MultiReader(strings.NewReader("cut"), &brokenBody{sent: true})} {
		req := httptest.NewRequest(http.MethodPut, api.PathFiles+"data/big.dat", body)
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{w.ids["bob"].Cert}}
		rec := httptest.NewRecorder()
		w.rt.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), api.ProblemBadRequest) {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		if _, err := w.rt.admin.Stat("/data/big.dat"); err == nil {
			t.Fatal("a broken body was stored")
		}
	}
}
