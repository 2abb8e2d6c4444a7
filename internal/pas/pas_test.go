package pas_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/pas/pastest"
	"github.com/truce-project/truce/internal/paswire"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/policy"
)

var meas = bytes.Repeat([]byte{0x5a}, 32)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAttestIssuesAndLogs(t *testing.T) {
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
	if len(chain) != 2 || !chain[1].Equal(srv.CA()) {
		t.Fatalf("chain of %d certificates, want leaf and CA", len(chain))
	}
	leaf := chain[0]
	if !key.PublicKey.Equal(leaf.PublicKey) {
		t.Fatal("leaf does not certify the enclave key")
	}
	id, err := attest.CheckEnclave(chain, pol, time.Now())
	if err != nil {
		t.Fatalf("CheckEnclave: %v", err)
	}
	if !id.Simulated || id.Platform != "sim" || !bytes.Equal(id.Measurement, meas) || id.PolicyHash != pol.Hash() {
		t.Fatalf("identity %+v", id)
	}
	if len(leaf.Subject.OrganizationalUnit) != 1 || leaf.Subject.OrganizationalUnit[0] != pas.SimulatedOU {
		t.Fatalf("simulated certificate subject %v lacks the SIMULATED OU", leaf.Subject)
	}
	if d := time.Until(leaf.NotAfter); d > pas.DefaultCertLifetime || d < pas.DefaultCertLifetime-time.Minute {
		t.Fatalf("certificate valid for %v more, want about %v", d, pas.DefaultCertLifetime)
	}
	if len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "127.0.0.1" {
		t.Fatalf("SAN %v, want the policy host 127.0.0.1", leaf.IPAddresses)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Fatalf("key usage %v", leaf.KeyUsage)
	}
	var logged []pas.Entry
	if err := srv.Service.Log().Entries(func(e pas.Entry) error { logged = append(logged, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 || !bytes.Equal(logged[0].Cert, leaf.Raw) {
		t.Fatalf("log holds %d entries, want the one issued certificate", len(logged))
	}
	if n, err := pas.VerifyLog(srv.Dir); n != 1 || err != nil {
		t.Fatalf("VerifyLog = %d, %v", n, err)
	}
}

func TestCertNeverOutlivesPolicy(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{})
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	polBytes := attesttest.PolicyBytes(t, attesttest.PolicyOptions{CACertPEM: srv.CAPEM(), Expires: exp,
		Host: "enclave.example:3017", Runtimes: []attesttest.Runtime{{Platform: "sim", Measurement: meas}}})
	_, chain, err := srv.Attest(context.Background(), srv.Provider(meas), polBytes)
	if err != nil {
		t.Fatal(err)
	}
	if !chain[0].NotAfter.Equal(exp) {
		t.Fatalf("NotAfter %v, want the policy's expiry %v", chain[0].NotAfter, exp)
	}
	if len(chain[0].DNSNames) != 1 || chain[0].DNSNames[0] != "enclave.example" {
		t.Fatalf("SAN %v, want the policy's host name", chain[0].DNSNames)
	}
}

// clock is a settable clock.
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

func TestRefusals(t *testing.T) {
	clk := &clock{}
	srv := pastest.Start(t, pastest.Options{Config: pas.Config{Now: clk.now}})
	noSim := pastest.Start(t, pastest.Options{RefuseSim: true})
	ctx := context.Background()
	polBytes := srv.PolicyBytes(t, meas)
	otherPol := srv.PolicyBytes(t, meas)
	otherDev, _ := simprovider.NewDevice(nil)
	c := srv.Client()
	nonce := func() []byte {
		n, err := c.Nonce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// good builds a valid request; each case then spoils one thing.
	good := func(prov attest.Provider) (paswire.AttestRequest, *ecdsa.PrivateKey) {
		k := newKey(t)
		req, err := paswire.NewRequest(ctx, prov, k, polBytes, nonce(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return req, k
	}
	rebind := func(req *paswire.AttestRequest, spki []byte, polHash [32]byte, n []byte, dev *simprovider.Device, m []byte) {
		ev, err := simprovider.NewProvider(dev, m).Evidence(ctx, attest.ReportData(spki, polHash, n))
		if err != nil {
			t.Fatal(err)
		}
		req.Evidence = ev
	}
	spkiOf := func(req paswire.AttestRequest) []byte {
		csr, err := x509.ParseCertificateRequest(req.CSR)
		if err != nil {
			t.Fatal(err)
		}
		return csr.RawSubjectPublicKeyInfo
	}
	for _, tc := range []struct {
		name   string
		client *paswire.Client
		spoil  func(*paswire.AttestRequest)
		want   error
		detail string
	}{
		{name: "reused nonce", spoil: func(r *paswire.AttestRequest) {
			if _, err := c.Attest(ctx, *r); err != nil {
				t.Fatalf("first use refused: %v", err)
			}
		}, want: paswire.ErrNonce, detail: "used already"},
		{name: "expired nonce", spoil: func(r *paswire.AttestRequest) { clk.advance(pas.DefaultNonceLifetime + time.Second) }, want: paswire.ErrNonce, detail: "expired"},
		{name: "unknown nonce", spoil: func(r *paswire.AttestRequest) {
			r.Nonce = bytes.Repeat([]byte{1}, 32)
			rebind(r, spkiOf(*r), policy.Hash(polBytes), r.Nonce, srv.Device, meas)
		}, want: paswire.ErrNonce},
		{name: "short nonce", spoil: func(r *paswire.AttestRequest) { r.Nonce = r.Nonce[:16] }, want: paswire.ErrNonce},
		{name: "bound to another key", spoil: func(r *paswire.AttestRequest) {
			other, _ := x509.MarshalPKIXPublicKey(&newKey(t).PublicKey)
			rebind(r, other, policy.Hash(polBytes), r.Nonce, srv.Device, meas)
		}, want: attest.ErrBinding},
		{name: "bound to another policy", spoil: func(r *paswire.AttestRequest) {
			rebind(r, spkiOf(*r), policy.Hash(otherPol), r.Nonce, srv.Device, meas)
		}, want: attest.ErrBinding},
		{name: "sent with another policy", spoil: func(r *paswire.AttestRequest) { r.Policy = otherPol }, want: attest.ErrBinding},
		{name: "bound to another nonce", spoil: func(r *paswire.AttestRequest) {
			rebind(r, spkiOf(*r), policy.Hash(polBytes), nonce(), srv.Device, meas)
		}, want: attest.ErrBinding},
		{name: "signed by another device", spoil: func(r *paswire.AttestRequest) {
			rebind(r, spkiOf(*r), policy.Hash(polBytes), r.Nonce, otherDev, meas)
		}, want: attest.ErrBadEvidence, detail: "another device"},
		{name: "truncated evidence", spoil: func(r *paswire.AttestRequest) { r.Evidence = r.Evidence[:len(r.Evidence)-3] }, want: attest.ErrBadEvidence},
		{name: "bit-flipped evidence", spoil: func(r *paswire.AttestRequest) { r.Evidence[len(r.Evidence)/2] ^= 4 }, want: attest.ErrBadEvidence},
		{name: "no evidence", spoil: func(r *paswire.AttestRequest) { r.Evidence = nil }, want: attest.ErrBadEvidence},
		{name: "untrusted measurement", spoil: func(r *paswire.AttestRequest) {
			rebind(r, spkiOf(*r), policy.Hash(polBytes), r.Nonce, srv.Device, bytes.Repeat([]byte{1}, 32))
		}, want: attest.ErrUntrustedMeasurement},
		{name: "unknown platform", spoil: func(r *paswire.AttestRequest) { r.Platform = "nitro" }, want: attest.ErrUnsupportedPlatform},
		{name: "made-up platform", spoil: func(r *paswire.AttestRequest) { r.Platform = "x" }, want: attest.ErrUnsupportedPlatform},
		{name: "sim without --allow-sim", client: noSim.Client(), want: attest.ErrUnsupportedPlatform, detail: "--allow-sim"},
		{name: "garbage CSR", spoil: func(r *paswire.AttestRequest) { r.CSR = []byte("csr") }, want: paswire.ErrCSR},
		{name: "badly signed CSR", spoil: func(r *paswire.AttestRequest) { r.CSR[len(r.CSR)-5] ^= 1 }, want: paswire.ErrCSR},
		{name: "policy of another service", spoil: func(r *paswire.AttestRequest) {
			r.Policy = attesttest.PolicyBytes(t, attesttest.PolicyOptions{CACertPEM: attesttest.NewCA(t).PEM(),
				Runtimes: []attesttest.Runtime{{Platform: "sim", Measurement: meas}}})
		}, want: paswire.ErrPolicy, detail: "another attestation service"},
		{name: "garbage policy", spoil: func(r *paswire.AttestRequest) { r.Policy = []byte("{}") }, want: paswire.ErrPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := c
			if tc.client != nil {
				cl = tc.client
				n, err := cl.Nonce(ctx)
				if err != nil {
					t.Fatal(err)
				}
				req, err := paswire.NewRequest(ctx, srv.Provider(meas), newKey(t), noSim.PolicyBytes(t, meas), n, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = cl.Attest(ctx, req)
				check(t, err, tc.want, tc.detail)
				return
			}
			req, _ := good(srv.Provider(meas))
			before, _ := srv.Service.Log().Head()
			tc.spoil(&req)
			before2, _ := srv.Service.Log().Head()
			_, err := cl.Attest(ctx, req)
			check(t, err, tc.want, tc.detail)
			if after, _ := srv.Service.Log().Head(); after != before2 {
				t.Fatalf("a refused attestation was logged (%d → %d entries)", before, after)
			}
		})
	}
}

func check(t *testing.T, err, want error, detail string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	var p *paswire.ProblemError
	if !errors.As(err, &p) || !strings.HasPrefix(p.Type, paswire.ProblemBase) || p.Status < 400 {
		t.Fatalf("error %v is not a problem answer", err)
	}
	if detail != "" && !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %q does not say %q", err, detail)
	}
}

func TestMalformedRequests(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{})
	hc := srv.HTTP.Client()
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"not JSON", "POST", "/v1/attest", "not json", 400},
		{"unknown field", "POST", "/v1/attest", `{"platfrom":"sim"}`, 400},
		{"bad base64", "POST", "/v1/attest", `{"evidence":"!!"}`, 400},
		{"GET attest", "GET", "/v1/attest", "", 405},
		{"no such path", "GET", "/v2/x", "", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := newHTTPRequest(tc.method, srv.URL+tc.path, tc.body)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
	ca, err := srv.Client().CACert(context.Background())
	if err != nil || !ca.Equal(srv.CA()) {
		t.Fatalf("GET /v1/ca = %v, %v", ca, err)
	}
}

func TestNonceLimit(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{Config: pas.Config{MaxNonces: 3, ReservedNonces: -1}})
	c := srv.Client()
	for range 3 {
		if _, err := c.Nonce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Nonce(context.Background()); !errors.Is(err, paswire.ErrBusy) {
		t.Fatalf("got %v, want ErrBusy", err)
	}
}

func TestInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	for f, mode := range map[string]os.FileMode{pas.CAKeyFile: 0o600, pas.DeviceKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v mode %v, want %v", f, err, fi.Mode().Perm(), mode)
		}
	}
	if err := pas.Init(dir, nil); !errors.Is(err, pas.ErrExists) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
	if _, err := pas.Open(pas.Config{Dir: t.TempDir()}); !errors.Is(err, pas.ErrNotInitialised) {
		t.Fatalf("Open of an empty dir: %v", err)
	}
	os.Chmod(filepath.Join(dir, pas.CAKeyFile), 0o644)
	if _, err := pas.Open(pas.Config{Dir: dir}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Open with a world-readable CA key: %v", err)
	}
}

// TestRestart: a reopened service keeps its CA and extends the same log.
func TestRestart(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{})
	polBytes := srv.PolicyBytes(t, meas)
	if _, _, err := srv.Attest(context.Background(), srv.Provider(meas), polBytes); err != nil {
		t.Fatal(err)
	}
	ca := srv.CA()
	srv.HTTP.Close()
	srv.Service.Close()
	s2, err := pas.Open(pas.Config{Dir: srv.Dir, AllowSim: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !s2.CACert().Equal(ca) {
		t.Fatal("the CA changed across a restart")
	}
	n, _, err := s2.NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	req, err := paswire.NewRequest(context.Background(), srv.Provider(meas), newKey(t), polBytes, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, p := s2.Attest(context.Background(), req); p != nil {
		t.Fatal(p)
	}
	if seq, _ := s2.Log().Head(); seq != 2 {
		t.Fatalf("log has %d entries after restart, want 2", seq)
	}
	if n, err := pas.VerifyLog(srv.Dir); n != 2 || err != nil {
		t.Fatalf("VerifyLog = %d, %v", n, err)
	}
}

// TestLogTamper changes the log behind the service's back in each way an
// attacker with the file might: every change is detected.
func TestLogTamper(t *testing.T) {
	for _, tc := range []struct {
		name string
		sql  string
	}{
		{"change a measurement", `UPDATE issuance SET measurement = X'00' WHERE seq = 2`},
		{"change a time", `UPDATE issuance SET time_ns = time_ns + 1 WHERE seq = 2`},
		{"change simulated", `UPDATE issuance SET simulated = 0 WHERE seq = 1`},
		{"delete the middle", `DELETE FROM issuance WHERE seq = 2`},
		{"delete the first", `DELETE FROM issuance WHERE seq = 1`},
		{"swap certificates", `UPDATE issuance SET cert = (SELECT cert FROM issuance WHERE seq = 1) WHERE seq = 3`},
		{"renumber", `UPDATE issuance SET seq = 4 WHERE seq = 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := pastest.Start(t, pastest.Options{})
			polBytes := srv.PolicyBytes(t, meas)
			for range 3 {
				if _, _, err := srv.Attest(context.Background(), srv.Provider(meas), polBytes); err != nil {
					t.Fatal(err)
				}
			}
			srv.HTTP.Close()
			srv.Service.Close()
			db, err := sql.Open("sqlite", filepath.Join(srv.Dir, pas.LogFile))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if _, err := pas.VerifyLog(srv.Dir); !errors.Is(err, pas.ErrLogTampered) {
				t.Fatalf("VerifyLog = %v, want ErrLogTampered", err)
			}
			if _, err := pas.Open(pas.Config{Dir: srv.Dir}); !errors.Is(err, pas.ErrLogTampered) {
				t.Fatalf("Open = %v, want ErrLogTampered", err)
			}
		})
	}
}

// TestConcurrentLoad: hundreds of attestations from parallel clients each
// get their own certificate, every one logged exactly once.
func TestConcurrentLoad(t *testing.T) {
	total, workers := 300, 16
	if testing.Short() {
		total = 64
	}
	srv := pastest.Start(t, pastest.Options{})
	polBytes := srv.PolicyBytes(t, meas)
	prov := srv.Provider(meas)
	var (
		mu      sync.Mutex
		serials = map[string]bool{}
		next    atomic.Int64
		wg      sync.WaitGroup
		errs    = make(chan error, workers)
	)
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(total) {
				_, chain, err := srv.Attest(context.Background(), prov, polBytes)
				if err != nil {
					errs <- err
					return
				}
				s := chain[0].SerialNumber.Text(16)
				mu.Lock()
				if serials[s] {
					errs <- errors.New("serial issued twice: " + s)
				}
				serials[s] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(serials) != total {
		t.Fatalf("%d distinct certificates, want %d", len(serials), total)
	}
	n, err := pas.VerifyLog(srv.Dir)
	if err != nil || n != total {
		t.Fatalf("VerifyLog = %d, %v; want %d entries", n, err, total)
	}
	err = pas.ReadLog(srv.Dir, func(e pas.Entry) error {
		if !serials[e.Serial] {
			return errors.New("logged serial never returned: " + e.Serial)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAppendFailureResyncs: a failed append (here a duplicate serial) does
// not leave the service unable to log the next issuance.
func TestAppendFailureResyncs(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{})
	polBytes := srv.PolicyBytes(t, meas)
	_, chain, err := srv.Attest(context.Background(), srv.Provider(meas), polBytes)
	if err != nil {
		t.Fatal(err)
	}
	id, err := attest.IdentityOf(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	serial := chain[0].SerialNumber.Text(16)
	if _, err := srv.Service.Log().Append(context.Background(), time.Now(), serial, *id, chain[0].Raw); err == nil {
		t.Fatal("logged a serial twice")
	}
	if _, _, err := srv.Attest(context.Background(), srv.Provider(meas), polBytes); err != nil {
		t.Fatalf("attestation after a failed append: %v", err)
	}
	if n, err := pas.VerifyLog(srv.Dir); n != 2 || err != nil {
		t.Fatalf("VerifyLog = %d, %v", n, err)
	}
}

// TestHealthzChecksStore: /healthz says 503 once the store no longer
// answers, so an orchestrator stops sending clients to that replica.
func TestHealthzChecksStore(t *testing.T) {
	srv := pastest.Start(t, pastest.Options{})
	hc := srv.HTTP.Client()
	get := func() int {
		resp, err := hc.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != 200 {
		t.Fatalf("healthy service: %d", code)
	}
	srv.Service.Close()
	if code := get(); code != 503 {
		t.Fatalf("service whose store is closed: %d, want 503", code)
	}
}
