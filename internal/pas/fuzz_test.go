package pas_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/truce-project/truce/internal/pas/pastest"
	"github.com/truce-project/truce/internal/paswire"
)

// FuzzAttestHandler throws arbitrary bodies at POST /v1/attest: the
// service never panics, never issues (the fuzzer cannot know a nonce), and
// always answers problem JSON.
func FuzzAttestHandler(f *testing.F) {
	srv := pastest.Start(f, pastest.Options{})
	polBytes := srv.PolicyBytes(f, meas)
	n, _, err := srv.Service.NewNonce()
	if err != nil {
		f.Fatal(err)
	}
	req, err := paswire.NewRequest(context.Background(), srv.Provider(meas), newKey(f), polBytes, n, nil)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(req)
	h := srv.Service.Handler()
	// Use the nonce once, for real; the seed is then a replay.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/attest", bytes.NewReader(good)))
	if rec.Code != http.StatusOK {
		f.Fatalf("valid request refused: %s", rec.Body)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"platform":"sim","nonce":"AAAA"}`))
	f.Add([]byte(`[1,2,3]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/attest", bytes.NewReader(body))
		h.ServeHTTP(rec, r)
		if rec.Code == http.StatusOK {
			t.Fatalf("issued a certificate for a fuzzed request")
		}
		var p paswire.ProblemError
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Type == "" || p.Status != rec.Code {
			t.Fatalf("answer is not problem JSON: %q", rec.Body.String())
		}
	})
}

// FuzzParseChainPEM: the client's parser of the service's answer never
// panics, and whatever it returns is at least one certificate.
func FuzzParseChainPEM(f *testing.F) {
	srv := pastest.Start(f, pastest.Options{})
	f.Add(srv.CAPEM())
	f.Add(append(srv.CAPEM(), srv.CAPEM()...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		chain, err := paswire.ParseChainPEM(b)
		if err == nil && len(chain) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}
