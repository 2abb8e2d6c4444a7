package pas_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/pastest"
	"github.com/truce-project/truce/internal/paswire"
)

// startWithHost starts a service whose directory has one host credential.
func startWithHost(t testing.TB, cfg pas.Config) (*pastest.Server, *paswire.Client) {
	t.Helper()
	srv, hosts := startWithHosts(t, cfg, 1)
	return srv, hosts[0]
}

// startWithHosts starts a service whose directory has n host
// credentials, of hosts host-1 to host-n.
func startWithHosts(t testing.TB, cfg pas.Config, n int) (*pastest.Server, []*paswire.Client) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	var creds []string
	for i := range n {
		cred, err := pas.AddHost(dir, fmt.Sprintf("host-%d", i+1), nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, cred)
	}
	cred := creds[0]
	if !strings.HasPrefix(cred, pas.CredentialPrefix) || len(cred) < len(pas.CredentialPrefix)+43 {
		t.Fatalf("credential %q is not a prefixed 256-bit token", cred)
	}
	if _, err := pas.AddHost(dir, "host-1", nil, time.Now()); !errors.Is(err, pas.ErrHostExists) {
		t.Fatalf("adding host-1 twice: %v, want ErrHostExists", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, pas.HostsFile))
	if err != nil || strings.Contains(string(b), cred) {
		t.Fatalf("hosts file (err %v) must hold the credential's hash, never the credential", err)
	}
	srv := pastest.Start(t, pastest.Options{Dir: dir, Config: cfg})
	var clients []*paswire.Client
	for _, c := range creds {
		clients = append(clients, &paswire.Client{URL: srv.URL, CA: srv.CA(), Credential: c})
	}
	return srv, clients
}

// TestNonceLimits: anonymous callers are limited per address, all
// together, and in the nonces they may hold, and an authenticated host is
// served from its own share meanwhile; every refusal says when to retry
// and what to do.
func TestNonceLimits(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  pas.Config
		// anon nonces succeed, then the next anonymous one fails with want.
		anon int
		want error
		// retry is the Retry-After the refusal must give, at least.
		retry time.Duration
	}{
		{"per address", pas.Config{AnonymousRate: 0.5, AnonymousBurst: 4}, 4, paswire.ErrRateLimited, 2 * time.Second},
		{"all anonymous callers", pas.Config{AnonymousRate: 1e6, AnonymousBurst: 1e6, AnonymousTotalRate: 1}, 2, paswire.ErrBusy, time.Second},
		{"outstanding nonces", pas.Config{MaxNonces: 10, ReservedNonces: 6}, 4, paswire.ErrBusy, 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var clk clock
			tc.cfg.Now = clk.now
			srv, host := startWithHost(t, tc.cfg)
			anon := srv.Client()
			for i := range tc.anon {
				if _, err := anon.Nonce(ctx); err != nil {
					t.Fatalf("anonymous nonce %d: %v", i+1, err)
				}
			}
			_, err := anon.Nonce(ctx)
			var p *paswire.ProblemError
			if !errors.Is(err, tc.want) || !errors.As(err, &p) {
				t.Fatalf("anonymous nonce %d: %v, want %v", tc.anon+1, err, tc.want)
			}
			if p.RetryAfter < tc.retry {
				t.Errorf("Retry-After %v, want at least %v", p.RetryAfter, tc.retry)
			}
			if !strings.Contains(p.Detail, "--pas-credential") || !strings.Contains(p.Detail, "retry") {
				t.Errorf("refusal %q does not say what to do", p.Detail)
			}
			// The host is served while anonymous callers are refused.
			for i := range 4 {
				if _, err := host.Nonce(ctx); err != nil {
					t.Fatalf("authenticated nonce %d during the anonymous refusal: %v", i+1, err)
				}
			}
			if _, err := anon.Nonce(ctx); err == nil {
				t.Fatal("anonymous callers served again at once")
			}
		})
	}
}

// TestHostRateLimit: a host credential is not a licence to flood either.
func TestHostRateLimit(t *testing.T) {
	var clk clock
	_, host := startWithHost(t, pas.Config{Now: clk.now, HostRate: 1, HostBurst: 3})
	for range 3 {
		if _, err := host.Nonce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := host.Nonce(context.Background()); !errors.Is(err, paswire.ErrRateLimited) {
		t.Fatalf("4th nonce: %v, want ErrRateLimited", err)
	}
	clk.advance(time.Second)
	if _, err := host.Nonce(context.Background()); err != nil {
		t.Fatalf("after a second: %v", err)
	}
}

func TestBadCredential(t *testing.T) {
	srv, host := startWithHost(t, pas.Config{})
	for _, cred := range []string{host.Credential + "x", pas.CredentialPrefix, "Basic abc"} {
		c := &paswire.Client{URL: srv.URL, CA: srv.CA(), Credential: cred}
		_, err := c.Nonce(context.Background())
		var p *paswire.ProblemError
		if !errors.Is(err, paswire.ErrUnauthenticated) || !errors.As(err, &p) || p.Status != http.StatusUnauthorized {
			t.Fatalf("credential %q: %v, want 401 ErrUnauthenticated", cred, err)
		}
		if !strings.Contains(p.Detail, "truce pas host add") {
			t.Errorf("refusal %q does not say what to do", p.Detail)
		}
	}
	if _, err := host.Nonce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// singleInstancePolicy is a policy of srv with attestation.single_instance.
func singleInstancePolicy(t *testing.T, srv *pastest.Server) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(srv.PolicyBytes(t, meas), &doc); err != nil {
		t.Fatal(err)
	}
	doc["attestation"].(map[string]any)["single_instance"] = true
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attestKey attests key under polBytes through srv's client.
func attestKey(srv *pastest.Server, key *ecdsa.PrivateKey, polBytes []byte) error {
	ctx := context.Background()
	c := srv.Client()
	nonce, err := c.Nonce(ctx)
	if err != nil {
		return err
	}
	req, err := paswire.NewRequest(ctx, srv.Provider(meas), key, polBytes, nonce, nil)
	if err != nil {
		return err
	}
	_, err = c.Attest(ctx, req)
	return err
}

// TestSingleInstance: under single_instance the first enclave key is
// renewed as often as it likes, and any other key is refused, with a
// problem naming the instance that holds the place; without it every key
// is certified, and the log lists each instance.
func TestSingleInstance(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{})
	single := singleInstancePolicy(t, srv)
	plain := srv.PolicyBytes(t, meas)
	k1, k2 := newKey(t), newKey(t)
	for i, c := range []struct {
		key  *ecdsa.PrivateKey
		pol  []byte
		want error
	}{
		{k1, single, nil}, {k1, single, nil}, {k2, single, paswire.ErrSecondInstance}, {k1, single, nil},
		{k2, plain, nil}, {k1, plain, nil}, {k2, plain, nil},
	} {
		err := attestKey(srv, c.key, c.pol)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Fatalf("attestation %d: %v, want %v", i+1, err, c.want)
		}
		var p *paswire.ProblemError
		if c.want != nil && (!errors.As(err, &p) || p.Status != http.StatusConflict || !strings.Contains(p.Detail, "sha256:")) {
			t.Fatalf("refusal %v: want 409 naming the first instance's key", err)
		}
	}
	is, err := pas.InstancesIn(context.Background(), srv.Dir, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(is) != 3 {
		t.Fatalf("%d instances, want 3 (one under the single-instance policy, two under the other): %+v", len(is), is)
	}
	if is[0].Certificates != 3 || is[1].Certificates != 2 || is[2].Certificates != 1 {
		t.Fatalf("certificates per instance %d, %d, %d; want 3, 2, 1", is[0].Certificates, is[1].Certificates, is[2].Certificates)
	}
	if is[0].Key != is[2].Key || is[0].Key == is[1].Key || is[0].PolicyHash == is[1].PolicyHash {
		t.Fatal("instances not told apart by policy and key")
	}
	if !is[0].First.Before(is[0].Last) || is[0].FirstSeq != 1 || is[0].LastSeq != 3 {
		t.Fatalf("first instance spans %v (#%d) to %v (#%d)", is[0].First, is[0].FirstSeq, is[0].Last, is[0].LastSeq)
	}
	ph := is[1].PolicyHash
	only, err := pas.InstancesIn(context.Background(), srv.Dir, "", &ph)
	if err != nil || len(only) != 2 {
		t.Fatalf("instances of one policy: %d, %v; want 2", len(only), err)
	}
}

// TestSingleInstanceRace: of enclaves racing to be the first of a
// single-instance policy, exactly one is certified.
func TestSingleInstanceRace(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{})
	single := singleInstancePolicy(t, srv)
	const n = 8
	errs := make(chan error, n)
	for range n {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		go func() { errs <- attestKey(srv, key, single) }()
	}
	won := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, paswire.ErrSecondInstance):
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d enclaves certified, want 1", won)
	}
}

// TestAttestTurns: an anonymous caller that holds every anonymous turn of
// POST /v1/attest (a body sent slowly) makes other anonymous attestations
// busy after a second, but never an authenticated host's, which has turns
// of its own; memory is bounded by the turns, not by the connections.
func TestAttestTurns(t *testing.T) {
	srv, host := startWithHost(t, pas.Config{AttestsAtOnce: 1})
	roots := x509.NewCertPool()
	roots.AddCert(srv.CA())
	u, _ := url.Parse(srv.URL)
	slow, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /v1/attest HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"platform\":", u.Host)
	// Once the slow request holds the one anonymous turn (the first tries
	// may come before it does), anonymous attestations are busy.
	for try := 0; ; try++ {
		err := attestKey(srv, newKey(t), srv.PolicyBytes(t, meas))
		if errors.Is(err, paswire.ErrBusy) {
			break
		}
		if err != nil || try == 20 {
			t.Fatalf("anonymous attestation while the anonymous turn is held: %v, want ErrBusy", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	nonce, err := host.Nonce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, err := paswire.NewRequest(ctx, srv.Provider(meas), newKey(t), srv.PolicyBytes(t, meas), nonce, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.Attest(ctx, req); err != nil {
		t.Fatalf("authenticated attestation while the anonymous turn is held: %v", err)
	}
}

// BenchmarkAttestLargeBody measures what one POST /v1/attest of the
// largest body allocates (B/op): the bound on memory per attestation turn.
func BenchmarkAttestLargeBody(b *testing.B) {
	srv := pastest.Start(b, pastest.Options{})
	big := bytes.Repeat([]byte{'A'}, pas.MaxRequestBytes-200)
	body := []byte(`{"platform":"sim","nonce":"AAAA","evidence":"` + string(big) + `"}`)
	h := srv.Service.Handler()
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/attest", bytes.NewReader(body)))
		if rec.Code == http.StatusOK {
			b.Fatal("issued")
		}
	}
}

// TestAttackHostHoldsAllTurns: one authenticated host sending slow
// request bodies must not hold every host turn of POST /v1/attest, or no
// other host's enclave could attest. Before the fix the slow host held all
// of them: host-1's own attestation was busy after a second, and so was
// host-2's ("attestation service busy: 4 attestation requests are being
// checked, the most at once"). Now one host holds at most half the turns,
// and is refused at once, with a Retry-After, beyond that.
func TestAttackHostHoldsAllTurns(t *testing.T) {
	const turns = 4
	srv, hosts := startWithHosts(t, pas.Config{AttestsAtOnce: turns}, 2)
	roots := x509.NewCertPool()
	roots.AddCert(srv.CA())
	u, _ := url.Parse(srv.URL)
	for range turns {
		slow, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		fmt.Fprintf(slow, "POST /v1/attest HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"platform\":", u.Host, hosts[0].Credential)
	}
	ctx := context.Background()
	attest := func(c *paswire.Client) error {
		nonce, err := c.Nonce(ctx)
		if err != nil {
			return err
		}
		req, err := paswire.NewRequest(ctx, srv.Provider(meas), newKey(t), srv.PolicyBytes(t, meas), nonce, nil)
		if err != nil {
			return err
		}
		_, err = c.Attest(ctx, req)
		return err
	}
	// Once the slow requests hold all the turns host-1 may have (the
	// first tries may come before they do), host-1 is refused.
	var refusal error
	for try := 0; refusal == nil; try++ {
		if err := attest(hosts[0]); err != nil {
			refusal = err
		} else if try == 50 {
			t.Fatal("host-1 still attests while its slow requests should hold its turns")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var p *paswire.ProblemError
	if !errors.Is(refusal, paswire.ErrRateLimited) || !errors.As(refusal, &p) || p.RetryAfter <= 0 ||
		!strings.Contains(p.Detail, "host-1") || !strings.Contains(p.Detail, "at once") {
		t.Errorf("host-1 refused with %v: want a rate-limited problem naming the host and its turns, with a Retry-After", refusal)
	}
	if err := attest(hosts[1]); err != nil {
		t.Fatalf("host-2 could not attest while host-1 holds its turns: %v", err)
	}
}
