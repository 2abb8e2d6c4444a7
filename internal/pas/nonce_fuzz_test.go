package pas_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/paswire"
)

// FuzzNonceAuthorization throws arbitrary Authorization headers and
// remote addresses at POST /v1/nonce: the service never panics, serves
// as a host only the one credential it knows, and answers anything else
// with a nonce (no header) or a problem (401 for a credential it does not
// know, 429 or 503 when a limit is reached).
func FuzzNonceAuthorization(f *testing.F) {
	var clk clock
	srv, host := startWithHost(f, pas.Config{Now: clk.now, AnonymousRate: 1, AnonymousBurst: 2, HostRate: 1e6, HostBurst: 1e6, RefusalDelay: -1})
	f.Add("", "127.0.0.1:1")
	f.Add("Bearer "+host.Credential, "[2001:db8::1]:443")
	f.Add("Bearer "+host.Credential+"x", "10.0.0.1:80")
	f.Add("bearer  "+host.Credential, "garbage")
	f.Add("Basic dXNlcjpwYXNz", "")
	f.Add("Bearer", "[::ffff:1.2.3.4]:5")
	h := srv.Service.Handler()
	f.Fuzz(func(t *testing.T, auth, remote string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/nonce", nil)
		r.RemoteAddr = remote
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		clk.advance(time.Millisecond)
		scheme, cred, _ := strings.Cut(auth, " ")
		isHost := strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(cred) == host.Credential
		switch {
		case rec.Code == http.StatusOK:
			var n paswire.NonceResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &n); err != nil || len(n.Nonce) != paswire.NonceSize {
				t.Fatalf("200 without a nonce: %q", rec.Body)
			}
			if auth != "" && !isHost {
				t.Fatalf("Authorization %q served, but it is not the host's credential", auth)
			}
		case auth == "" || isHost:
			if rec.Code != http.StatusTooManyRequests && rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("Authorization %q from %q: HTTP %d %s", auth, remote, rec.Code, rec.Body)
			}
			if isHost {
				t.Fatalf("the host refused: %s", rec.Body)
			}
		default:
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("Authorization %q: HTTP %d, want 401", auth, rec.Code)
			}
		}
		if rec.Code != http.StatusOK {
			var p paswire.ProblemError
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Type == "" || p.Status != rec.Code || p.Detail == "" {
				t.Fatalf("answer is not problem JSON: %q", rec.Body.String())
			}
			if rec.Code != http.StatusUnauthorized && rec.Header().Get("Retry-After") == "" {
				t.Fatal("a limit refusal without Retry-After")
			}
		}
	})
}
