package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	shamirlib "github.com/truce-project/truce/examples/shamir/shamir"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/deployment/deploymenttest"
	"github.com/truce-project/truce/receipt"
)

// running is a PAS, a story and a host serving it.
type running struct {
	ps *deployment.AttestationService
	s  *story
	h  *deployment.Host
}

// startStory starts a PAS and a host serving a new story. The policy pins
// the host's address, picked free beforehand; if another process takes the
// port meanwhile, it tries again with a new one.
func startStory(t testing.TB, o storyOptions) *running {
	t.Helper()
	ps := startPAS(t)
	for attempt := 0; ; attempt++ {
		oo := o
		if oo.hostAddr == "" {
			oo.hostAddr = deploymenttest.FreeAddr(t)
		}
		s := newStory(t, ps, oo)
		h, err := tryHost(t, ps, oo.hostAddr, []string{s.polFile})
		if errors.Is(err, deployment.ErrPortTaken) && o.hostAddr == "" && attempt < 3 {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return &running{ps: ps, s: s, h: h}
	}
}

func (r *running) dial(t testing.TB, name string, opts ...client.Option) *client.Session {
	t.Helper()
	sess, err := client.Dial(context.Background(), r.s.pol, r.s.parties[name].id, opts...)
	if err != nil {
		t.Fatalf("%s dialing: %v", name, err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

func (r *running) put(t testing.TB, name, path string, data []byte) {
	t.Helper()
	if _, err := r.dial(t, name).Put(context.Background(), path, bytes.NewReader(data)); err != nil {
		t.Fatalf("%s writing %s: %v", name, path, err)
	}
}

func split(t testing.TB, secret []byte) [][]byte {
	t.Helper()
	shares, err := shamirlib.Split(secret, 3, 3, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return shares
}

// TestStory is the whole computation, through the CLI for the parties'
// commands and the SDK for the checks, with the receipt verified by
// "truce receipt verify".
func TestStory(t *testing.T) {
	r := startStory(t, storyOptions{})
	s := r.s
	ctx := context.Background()
	secret := []byte("e2e: the vault code is 31337")
	shares := split(t, secret)

	out, errOut, code := truce(t, s.env("dave"), nil, "attest", "--ca-bundle", filepath.Join(s.dir, "ca.pem"))
	if code != 0 || !strings.Contains(out, hexOf(measurement)) || !strings.Contains(out, s.pol.HashHex()) || !strings.Contains(out, "simulated:    YES") {
		t.Fatalf("attest (%d): %s %s", code, out, errOut)
	}
	// With the CA bundle, any TLS client (curl, here Go's standard one
	// with its usual name checks) talks to the enclave API directly.
	bundle, err := os.ReadFile(filepath.Join(s.dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(bundle)
	dave := s.parties["dave"]
	kp, err := tls.LoadX509KeyPair(dave.certFile, dave.key)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}}}}
	resp, err := hc.Get("https://" + s.pol.Host + "/v1/policy")
	if err != nil {
		t.Fatalf("plain TLS client with the CA bundle: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, s.pol.Bytes()) {
		t.Fatalf("GET /v1/policy: %d %q", resp.StatusCode, body)
	}
	hc.CloseIdleConnections()

	out, errOut, code = truce(t, s.env("alice"), nil, "attest", "--evidence", "--device-pub", filepath.Join(r.ps.Dir, "device.pub"))
	if code != 0 || !strings.Contains(out, "evidence verified directly") {
		t.Fatalf("attest --evidence (%d): %s %s", code, out, errOut)
	}
	wasm := filepath.Join(s.dir, "shamir.wasm")
	os.WriteFile(wasm, shamir.Wasm, 0o644)
	if out, errOut, code := truce(t, s.env("oscar"), nil, "put", wasm, shamir.Path); code != 0 {
		t.Fatalf("put program: %s %s", out, errOut)
	}
	for i, n := range shareNames {
		// From stdin, as a user piping data would.
		if out, errOut, code := truce(t, s.env(n), shares[i], "put", "-", fmt.Sprintf("/input/shamir-%d.dat", i)); code != 0 {
			t.Fatalf("%s put: %s %s", n, out, errOut)
		}
	}
	rcpt := filepath.Join(s.dir, "receipt.json")
	out, errOut, code = truce(t, s.env("dave"), nil, "exec", "--receipt", rcpt, shamir.Path)
	if code != 0 || !strings.Contains(out, "combined 3 shares") {
		t.Fatalf("exec (%d): %s %s", code, out, errOut)
	}
	got := filepath.Join(s.dir, "secret.txt")
	if out, errOut, code := truce(t, s.env("dave"), nil, "get", "/output/shamir.dat", got); code != 0 {
		t.Fatalf("get: %s %s", out, errOut)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, secret) {
		t.Fatalf("result %q, want %q", b, secret)
	}
	if out, errOut, code := truce(t, nil, nil, "receipt", "verify", "--policy", s.polFile, rcpt); code != 0 {
		t.Fatalf("receipt verify: %s %s", out, errOut)
	}
	// The policy's pipeline runs the program twice; its receipt checks too.
	prcpt := filepath.Join(s.dir, "pipeline.json")
	out, errOut, code = truce(t, s.env("dave"), nil, "pipeline", "--receipt", prcpt, "combine")
	if code != 0 || strings.Count(out, "exit code 0") != 2 {
		t.Fatalf("pipeline (%d): %s %s", code, out, errOut)
	}
	if out, errOut, code := truce(t, nil, nil, "receipt", "verify", "--policy", s.polFile, prcpt); code != 0 || !strings.Contains(out, "pipeline:combine") {
		t.Fatalf("pipeline receipt verify: %s %s", out, errOut)
	}

	// The same receipt, tampered with, fails.
	var rc receipt.Receipt
	b, _ := os.ReadFile(rcpt)
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatal(err)
	}
	if err := receipt.Verify(&rc, s.pol, time.Now()); err != nil {
		t.Fatalf("saved receipt: %v", err)
	}
	rc.Outputs[0].Commitment = strings.Repeat("0", 64)
	bad, _ := json.Marshal(rc)
	badFile := filepath.Join(s.dir, "tampered.json")
	os.WriteFile(badFile, bad, 0o644)
	if out, errOut, code := truce(t, nil, nil, "receipt", "verify", "--policy", s.polFile, badFile); code == 0 {
		t.Fatalf("tampered receipt verified: %s %s", out, errOut)
	}
	if err := receipt.Verify(&rc, s.pol, time.Now()); err == nil {
		t.Fatal("receipt.Verify accepted a tampered receipt")
	}

	// The audit log records it all and checks.
	l, err := r.dial(t, "dave").Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Verify(l.Entries); err != nil || len(l.Entries) < 6 {
		t.Fatalf("audit: %d entries, %v", len(l.Entries), err)
	}
	if out, errOut, code := truce(t, s.env("dave"), nil, "audit"); code != 0 || !strings.Contains(out, "chain checks") {
		t.Fatalf("audit CLI: %s %s", out, errOut)
	}

	// dave exports the audit bundle; it checks offline, with no server,
	// and names his run and pipeline with their receipts. alice's export
	// withholds the receipts she may not read, and still checks.
	bundleFile := filepath.Join(s.dir, "bundle.json")
	devPub := filepath.Join(r.ps.Dir, "device.pub")
	if out, errOut, code := truce(t, s.env("dave"), nil, "export", "-o", bundleFile, "--device-pub", devPub); code != 0 || !strings.Contains(errOut, "evidence checked") {
		t.Fatalf("export (%d): %s %s", code, out, errOut)
	}
	aliceBundle := filepath.Join(s.dir, "alice-bundle.json")
	if out, errOut, code := truce(t, s.env("alice"), nil, "export", "-o", aliceBundle); code != 0 || !strings.Contains(errOut, "2 withheld from alice") {
		t.Fatalf("export as alice (%d): %s %s", code, out, errOut)
	}
	out, errOut, code = truce(t, nil, nil, "audit", "verify", "--device-pub", devPub, "--policy", s.polFile, bundleFile)
	if code != 0 || !strings.Contains(out, "dave ran "+shamir.Path) || !strings.Contains(out, "dave ran pipeline combine") ||
		!strings.Contains(out, "2 verified, signed by the enclave key; 0 withheld") || !strings.Contains(out, "evidence verified") {
		t.Fatalf("audit verify (%d): %s %s", code, out, errOut)
	}
	if out, errOut, code := truce(t, nil, nil, "audit", "verify", "--device-pub", devPub, aliceBundle); code != 0 || !strings.Contains(out, "0 verified, signed by the enclave key; 2 withheld from alice") {
		t.Fatalf("audit verify of alice's bundle (%d): %s %s", code, out, errOut)
	}
	bb, _ := os.ReadFile(bundleFile)
	for _, i := range []int{len(bb) / 7, len(bb) / 2, len(bb) - 10} {
		bad := bytes.Clone(bb)
		bad[i] ^= 1
		os.WriteFile(bundleFile, bad, 0o644)
		if out, errOut, code := truce(t, nil, nil, "audit", "verify", "--device-pub", devPub, bundleFile); code != 1 || out != "" {
			t.Fatalf("altered byte %d of the bundle (%d): %s %s", i, code, out, errOut)
		}
	}

	// dave shuts the enclave down; the host ends cleanly with it.
	if out, errOut, code := truce(t, s.env("dave"), nil, "shutdown"); code != 0 {
		t.Fatalf("shutdown: %s %s", out, errOut)
	}
	if code := deploymenttest.Wait(t, r.h.Process, 30*time.Second); code != 0 {
		t.Fatalf("host exited %d after shutdown", code)
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

// TestOtherOrder uploads the shares before the program, in reverse order,
// and gets the same secret.
func TestOtherOrder(t *testing.T) {
	r := startStory(t, storyOptions{})
	secret := []byte("order does not matter")
	shares := split(t, secret)
	for i := len(shareNames) - 1; i >= 0; i-- {
		r.put(t, shareNames[i], fmt.Sprintf("/input/shamir-%d.dat", i), shares[i])
	}
	r.put(t, "oscar", shamir.Path, shamir.Wasm)
	dave := r.dial(t, "dave")
	if _, err := dave.Run(context.Background(), shamir.Path); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := dave.Get(context.Background(), "/output/shamir.dat", &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), secret) {
		t.Fatalf("got %q", out.Bytes())
	}
}

// snapshot reads every file rita can see that the story may create.
func snapshot(t *testing.T, rita *client.Session) map[string]string {
	t.Helper()
	paths := []string{shamir.Path, "/input/shamir-0.dat", "/input/shamir-1.dat", "/input/shamir-2.dat", "/input/mallory.dat", "/output/shamir.dat"}
	m := map[string]string{}
	for _, p := range paths {
		var b bytes.Buffer
		_, err := rita.Get(context.Background(), p, &b)
		switch {
		case errors.Is(err, client.ErrNotFound):
			m[p] = "(absent)"
		case err != nil:
			t.Fatalf("rita reading %s: %v", p, err)
		default:
			m[p] = b.String()
		}
	}
	return m
}

// TestRefusals tries everything the policy forbids. Each attempt must fail
// with a clear, typed error and leave every file as it was.
func TestRefusals(t *testing.T) {
	r := startStory(t, storyOptions{reader: true})
	ctx := context.Background()
	shares := split(t, []byte("refusals"))
	rita := r.dial(t, "rita")

	// Before any input: the run is refused as not ready.
	r.put(t, "oscar", shamir.Path, shamir.Wasm)
	r.put(t, "alice", "/input/shamir-0.dat", shares[0])
	before := snapshot(t, rita)
	if _, err := r.dial(t, "dave").Run(ctx, shamir.Path); !errors.Is(err, client.ErrNotReady) {
		t.Fatalf("run before inputs: %v, want ErrNotReady", err)
	}
	if after := snapshot(t, rita); !equalMaps(before, after) {
		t.Fatalf("a refused run changed files: %v → %v", before, after)
	}
	r.put(t, "bob", "/input/shamir-1.dat", shares[1])
	r.put(t, "carol", "/input/shamir-2.dat", shares[2])
	if _, err := r.dial(t, "dave").Run(ctx, shamir.Path); err != nil {
		t.Fatal(err)
	}
	before = snapshot(t, rita)

	stranger, _ := identity.New("alice", 0, time.Time{}, nil) // same name, another key
	otherProgram := append(append([]byte(nil), shamir.Wasm...), 0)
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"client certificate not in the policy", func() error {
			_, err := client.Dial(ctx, r.s.pol, stranger)
			return err
		}, client.ErrUnauthenticated},
		{"writing another's input", func() error {
			_, err := r.dial(t, "alice").Put(ctx, "/input/shamir-1.dat", strings.NewReader("forged"))
			return err
		}, client.ErrForbidden},
		{"appending without the right", func() error {
			_, err := r.dial(t, "alice").Append(ctx, "/input/shamir-0.dat", strings.NewReader("more"))
			return err
		}, client.ErrForbidden},
		{"writing an output", func() error {
			_, err := r.dial(t, "mallory").Put(ctx, "/output/shamir.dat", strings.NewReader("forged"))
			return err
		}, client.ErrForbidden},
		{"reading an output without the right", func() error {
			_, err := r.dial(t, "alice").Get(ctx, "/output/shamir.dat", io.Discard)
			return err
		}, client.ErrForbidden},
		{"reading another's input", func() error {
			_, err := r.dial(t, "bob").Get(ctx, "/input/shamir-0.dat", io.Discard)
			return err
		}, client.ErrForbidden},
		{"running without the right", func() error {
			_, err := r.dial(t, "alice").Run(ctx, shamir.Path)
			return err
		}, client.ErrForbidden},
		{"a program whose hash differs", func() error {
			_, err := r.dial(t, "oscar").Put(ctx, shamir.Path, bytes.NewReader(otherProgram))
			return err
		}, client.ErrHashMismatch},
		{"shutdown without the right", func() error {
			return r.dial(t, "alice").Shutdown(ctx)
		}, client.ErrForbidden},
		{"policy expired (client clock a day later)", func() error {
			_, err := client.Dial(ctx, r.s.pol, r.s.parties["dave"].id, client.WithClock(func() time.Time { return time.Now().Add(25 * time.Hour) }))
			return err
		}, client.ErrPolicyExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil {
				t.Fatal("allowed")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if after := snapshot(t, rita); !equalMaps(before, after) {
				t.Fatalf("a refused request changed files")
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestParallelSessions runs many sessions at once against one enclave.
func TestParallelSessions(t *testing.T) {
	r := startStory(t, storyOptions{reader: true})
	ctx := context.Background()
	secret := []byte("parallel")
	shares := split(t, secret)
	r.put(t, "oscar", shamir.Path, shamir.Wasm)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for round := 0; round < 4; round++ {
		for i, n := range shareNames {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := client.Dial(ctx, r.s.pol, r.s.parties[n].id)
				if err != nil {
					errs <- err
					return
				}
				defer s.Close()
				if _, err := s.Put(ctx, fmt.Sprintf("/input/shamir-%d.dat", i), bytes.NewReader(shares[i])); err != nil {
					errs <- err
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := client.Dial(ctx, r.s.pol, r.s.parties["rita"].id)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			if _, err := s.Audit(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	dave := r.dial(t, "dave")
	if _, err := dave.Run(ctx, shamir.Path); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := dave.Get(ctx, "/output/shamir.dat", &out); err != nil || !bytes.Equal(out.Bytes(), secret) {
		t.Fatalf("result %q, %v", out.Bytes(), err)
	}
}

// TestExpiredCertificate: with the PAS issuing 2-second certificates and a
// client whose clock is a minute ahead, the enclave's certificate is
// expired and the client refuses it; the host renews meanwhile.
func TestCertificateExpiryAndRenewal(t *testing.T) {
	ps := startPAS(t, "--cert-lifetime", "3s")
	addr := deploymenttest.FreeAddr(t)
	s := newStory(t, ps, storyOptions{hostAddr: addr})
	h := startHost(t, ps, addr, []string{s.polFile}, "--metrics", "127.0.0.1:0", "--log-level", "debug")
	ctx := context.Background()
	_, err := client.Dial(ctx, s.pol, s.parties["dave"].id, client.WithClock(func() time.Time { return time.Now().Add(time.Minute) }))
	if !errors.Is(err, attest.ErrBadChain) {
		t.Fatalf("error %v, want ErrBadChain for an expired enclave certificate", err)
	}
	// Wait for two renewals; a fresh dial then sees a valid certificate.
	deadline := time.Now().Add(30 * time.Second)
	// The host's lines, not the runtime's (both log renewals).
	for strings.Count(h.Process.Output(), `msg="certificate renewed" enclave=`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no renewals:\n%s", h.Process.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	sess, err := client.Dial(ctx, s.pol, s.parties["dave"].id)
	if err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	sess.Close()
}

// TestExpiredPolicyRefusedByCLI: the host and the clients refuse a policy
// past its expiry.
func TestExpiredPolicyRefusedByCLI(t *testing.T) {
	ps := startPAS(t)
	s := newStory(t, ps, storyOptions{hostAddr: deploymenttest.FreeAddr(t), expires: time.Now().Add(-time.Hour).UTC().Truncate(time.Second)})
	_, errOut, code := truce(t, nil, nil, "host", "serve", "--policy", s.polFile, "--sim-device-key", ps.DeviceKey)
	if code == 0 || !strings.Contains(errOut, "expire") {
		t.Fatalf("host served an expired policy (%d): %s", code, errOut)
	}
	_, errOut, code = truce(t, s.env("dave"), nil, "attest")
	if code == 0 || !strings.Contains(errOut, "expire") {
		t.Fatalf("client used an expired policy (%d): %s", code, errOut)
	}
}

// TestTwoEnclavesOnePort: one host serves two policies on one port,
// routing by server name; each party reaches its own enclave, and a
// connection naming no enclave is refused.
func TestTwoEnclavesOnePort(t *testing.T) {
	ps := startPAS(t)
	addr := deploymenttest.FreeAddr(t)
	a := newStory(t, ps, storyOptions{hostAddr: addr})
	b := newStory(t, ps, storyOptions{hostAddr: addr})
	h := startHost(t, ps, addr, []string{a.polFile, b.polFile})
	ctx := context.Background()
	for _, s := range []*story{a, b} {
		sess, err := client.Dial(ctx, s.pol, s.parties["alice"].id)
		if err != nil {
			t.Fatalf("dial %s: %v", s.pol.HashHex()[:16], err)
		}
		if _, err := sess.Put(ctx, "/input/shamir-0.dat", strings.NewReader(s.pol.HashHex())); err != nil {
			t.Fatal(err)
		}
		sess.Close()
	}
	// a's identity is no principal of b: the parties are separate.
	_, err := client.Dial(ctx, b.pol, a.parties["alice"].id)
	if !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("a's alice in b's enclave: %v", err)
	}
	// Without a server name, with two enclaves, the host closes the
	// connection.
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err == nil {
		c.Close()
		t.Fatal("a connection without server name was relayed")
	}
	// Ctrl-C stops the host cleanly: both runtimes wipe their state and
	// the host exits 0.
	h.Stop()
	if code := h.Process.ExitCode(); code != 0 {
		t.Fatalf("host exited %d on interrupt", code)
	}
	if n := strings.Count(h.Process.Output(), "state wiped"); n != 2 {
		t.Fatalf("%d runtimes wiped their state, want 2:\n%s", n, h.Process.Output())
	}
}
