package attack

// Attacks on the attestation service and on enclave instances: anyone who
// reaches the service floods it with nonce requests; a host restarts the
// enclave to start afresh (budgets, audit log); a curl user trusts
// whichever enclave the service certified.

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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/deployment/deploymenttest"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/paswire"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/policy"
)

// truce runs the truce binary to completion and returns its output.
func truce(t *testing.T, env []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// hostCredential makes a credential for a host of ps with "truce pas host
// add" and returns its file. The service reads it when it starts: call it
// before startPASArgs.
func hostCredential(t *testing.T, dir, name string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name+".credential")
	if out, errOut, err := truce(t, nil, "pas", "host", "add", "--dir", dir, "-o", file, name); err != nil {
		t.Fatalf("truce pas host add: %v\n%s%s", err, out, errOut)
	}
	return file
}

// startPASArgs is startPAS on an existing directory dir (pas.Init'ed),
// with extra flags for pas serve.
func startPASArgs(t *testing.T, dir string, extra ...string) *deployment.AttestationService {
	t.Helper()
	return deploymenttest.StartAttestationService(t, truceBin, deployment.AttestationServiceOptions{Dir: dir, Flags: extra})
}

func newPASDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pas")
	if err := pas.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// pasHTTP is an HTTP client of ps whose connections come from source
// address src (any 127.0.0.0/8 address is loopback on Linux).
func pasHTTP(t *testing.T, ps *deployment.AttestationService, src string) *http.Client {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ps.CACert) {
		t.Fatal("no CA certificate")
	}
	d := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: d.DialContext, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13},
		MaxIdleConnsPerHost: 4,
	}}
}

// askNonce posts once to /v1/nonce and returns the status, the
// Retry-After header and the problem, if any.
func askNonce(hc *http.Client, url string) (int, string, *paswire.ProblemError, error) {
	resp, err := hc.Post(url+"/v1/nonce", "application/json", nil)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body := readAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", nil, nil
	}
	var p paswire.ProblemError
	if resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(body), &p) != nil {
		return resp.StatusCode, resp.Header.Get("Retry-After"), nil, fmt.Errorf("HTTP %d without a problem document: %q", resp.StatusCode, body)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), &p, nil
}

// attestRound is one whole attestation as a host makes it (nonce,
// evidence of the simulated device, certificate), timed.
func attestRound(ctx context.Context, c *paswire.Client, prov attest.Provider, pol *policy.Policy) (time.Duration, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	nonce, err := c.Nonce(ctx)
	if err != nil {
		return 0, fmt.Errorf("nonce: %w", err)
	}
	req, err := paswire.NewRequest(ctx, prov, key, pol.Bytes(), nonce, nil)
	if err != nil {
		return 0, err
	}
	if _, err := c.Attest(ctx, req); err != nil {
		return 0, fmt.Errorf("attest: %w", err)
	}
	return time.Since(start), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// TestAttackNonceFlood: an anonymous caller asks for nonces as fast as it
// can, first from one address, then from 64; meanwhile an authenticated
// host attests and a real host with a credential starts. On the code
// before the fix every anonymous request was served (65,536 exhausted the
// service for two minutes); now the one address is refused (429, with
// Retry-After and a hint) after its burst, the many together are bounded,
// and the authenticated host is served throughout.
func TestAttackNonceFlood(t *testing.T) {
	dir := newPASDir(t)
	credFile := hostCredential(t, dir, "host-1")
	ps := startPASArgs(t, dir)
	w := newWorld(t, ps, worldOptions{})
	cred, err := pas.ReadCredential(credFile)
	if err != nil {
		t.Fatal(err)
	}

	// One address, 200 requests 50 at a time.
	hc := pasHTTP(t, ps, "127.0.0.1")
	var served, refused atomic.Int64
	var bad atomic.Value
	var wg1 sync.WaitGroup
	start1 := time.Now()
	for range 50 {
		wg1.Go(func() {
			for range 4 {
				code, retry, p, err := askNonce(hc, ps.URL)
				switch {
				case err != nil:
					bad.Store(err.Error())
				case code == http.StatusOK:
					served.Add(1)
				case code != http.StatusTooManyRequests || p.Kind() != paswire.ProblemRateLimited || retry == "" || !strings.Contains(p.Detail, "--pas-credential"):
					bad.Store(fmt.Sprintf("refusal: HTTP %d, Retry-After %q, %v; want 429 rate-limited with Retry-After and what to do", code, retry, p))
				default:
					refused.Add(1)
				}
			}
		})
	}
	wg1.Wait()
	took := time.Since(start1)
	if b := bad.Load(); b != nil {
		t.Fatal(b)
	}
	t.Logf("one anonymous address, 200 nonce requests 50 at a time: %d served, %d refused in %v", served.Load(), refused.Load(), took)
	if allowed := int64(pas.DefaultAnonymousBurst + pas.DefaultAnonymousRate*(took.Seconds()+1)); served.Load() > allowed {
		t.Fatalf("one anonymous address got %d nonces in %v (the limit allows %d): no limit per caller", served.Load(), took, allowed)
	}

	// Quiet service: the authenticated host's attestation latency.
	dev, err := simprovider.LoadDevice(ps.DeviceKey)
	if err != nil {
		t.Fatal(err)
	}
	prov := simprovider.NewProvider(dev, measurement)
	ca, err := paswire.ParseChainPEM(ps.CACert)
	if err != nil {
		t.Fatal(err)
	}
	host := &paswire.Client{URL: ps.URL, CA: ca[0], Credential: cred}
	ctx := context.Background()
	const rounds = 15
	var quiet, flooded []time.Duration
	for range rounds {
		d, err := attestRound(ctx, host, prov, w.pol)
		if err != nil {
			t.Fatalf("quiet attestation: %v", err)
		}
		quiet = append(quiet, d)
		time.Sleep(100 * time.Millisecond) // under the host's own rate limit
	}

	// 64 addresses flood over 256 connections; the host attests, and a
	// real host starts.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var floodOK, floodRefused, floodErr atomic.Int64
	for i := range 256 {
		src := fmt.Sprintf("127.0.0.%d", i%64+2)
		fc := pasHTTP(t, ps, src)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, _, _, err := askNonce(fc, ps.URL)
				switch {
				case err != nil:
					floodErr.Add(1)
				case code == http.StatusOK:
					floodOK.Add(1)
				default:
					floodRefused.Add(1)
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	start := time.Now()
	for len(flooded) < rounds || time.Since(start) < 3*time.Second {
		d, err := attestRound(ctx, host, prov, w.pol)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("authenticated attestation during the anonymous flood: %v", err)
		}
		flooded = append(flooded, d)
		time.Sleep(100 * time.Millisecond)
	}
	w.serve(t, "--pas-credential", credFile)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	mq, mf := median(quiet), median(flooded)
	t.Logf("authenticated attestation (nonce+evidence+certificate), median: quiet %v (%d rounds), during a 64-address, 256-connection anonymous flood %v (%d rounds, %.2f×); flood: %d served, %d refused, %d failed in %v",
		mq, len(quiet), mf, len(flooded), float64(mf)/float64(mq), floodOK.Load(), floodRefused.Load(), floodErr.Load(), elapsed)
	if floodRefused.Load() == 0 {
		t.Fatal("the 64-address flood was never refused: anonymous callers together are unbounded")
	}
	// The flood may take at most the anonymous total rate (a burst of
	// twice as many), and the authenticated host was served regardless.
	if max := int64(2*pas.DefaultAnonymousTotalRate) + int64(pas.DefaultAnonymousTotalRate*(elapsed.Seconds()+1)) + 64*pas.DefaultAnonymousBurst; floodOK.Load() > max {
		t.Fatalf("the flood got %d nonces in %v, more than the anonymous limits allow (%d)", floodOK.Load(), elapsed, max)
	}
	if _, err := w.dial(t, "alice").Policy(ctx); err != nil {
		t.Fatalf("the host attested during the flood does not serve: %v", err)
	}
}

// writeIdentity writes principal n's certificate and key for the CLI.
func (w *world) writeIdentity(t *testing.T, n string) (certFile, keyFile string) {
	t.Helper()
	dir := filepath.Join(w.dir, "ids")
	os.MkdirAll(dir, 0o700)
	c, k, err := w.ids[n].Write(dir)
	if err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	if err != nil {
		return filepath.Join(dir, n+".crt"), filepath.Join(dir, n+".key")
	}
	return c, k
}

// restart stops the world's host and starts it again: a new enclave, with
// a new key, for the same policy.
func (w *world) restart(t *testing.T, extra ...string) {
	t.Helper()
	w.host.Stop()
	w.serve(t, extra...)
}

// TestAttackRestartedEnclaveNoticed: the host restarts the enclave (to
// reset data-use budgets and wipe the audit log). The open session
// refuses the new enclave, a client dialing again with the known-enclaves
// record gets ErrEnclaveChanged, the CLI warns (or refuses with
// --refuse-new-enclave), and the attestation service's log lists both
// instances. Before the fix the fresh enclave was accepted without a word.
func TestAttackRestartedEnclaveNoticed(t *testing.T) {
	w := startWorld(t, worldOptions{})
	ctx := context.Background()
	known := filepath.Join(t.TempDir(), "known_enclaves")
	cert, key := w.writeIdentity(t, "alice")
	attestCLI := func(extra ...string) (string, string, error) {
		return truce(t, nil, append([]string{"attest", "--policy", w.polFile, "--identity", cert, "--key", key,
			"--addr", w.addr, "--known-enclaves", known}, extra...)...)
	}
	if out, errOut, err := attestCLI(); err != nil || strings.Contains(errOut, "WARNING") || !strings.Contains(out, "enclave key:  sha256:") {
		t.Fatalf("first truce attest: %v\n%s%s", err, out, errOut)
	}
	k := &client.KnownEnclaves{Path: known}
	old := w.dial(t, "alice", client.WithKnownEnclaves(k, nil))
	if _, err := old.Put(ctx, "/input/alice.dat", strings.NewReader("before the restart")); err != nil {
		t.Fatal(err)
	}
	_, chain := old.Enclave()
	before := client.KeyFingerprint(chain[0])

	w.restart(t)

	// The open session: its next connection meets the new enclave.
	old.Close()
	if _, err := old.Put(ctx, "/input/alice.dat", strings.NewReader("after")); !errors.Is(err, client.ErrEnclaveChanged) {
		t.Fatalf("the open session after the restart: %v, want ErrEnclaveChanged", err)
	}
	// A new session with the record.
	_, err := client.Dial(ctx, w.pol, w.ids["alice"], client.WithAddr(w.addr), client.WithKnownEnclaves(k, nil))
	var ch *client.EnclaveChangedError
	if !errors.As(err, &ch) || ch.Previous != before || ch.Current == before || ch.InSession {
		t.Fatalf("dialing the restarted enclave: %v, want an EnclaveChangedError from the recorded instance", err)
	}
	// The CLI: --refuse-new-enclave stops; otherwise a warning, once.
	if out, errOut, err := attestCLI("--refuse-new-enclave"); err == nil || !strings.Contains(errOut, "different enclave instance") || !strings.Contains(errOut, "hint:") {
		t.Fatalf("truce attest --refuse-new-enclave after the restart: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err := attestCLI()
	if err != nil || !strings.Contains(errOut, "WARNING") || !strings.Contains(errOut, "different enclave instance") || !strings.Contains(errOut, "truce pas log --policy") {
		t.Fatalf("truce attest after the restart: %v, want a warning with a hint\n%s%s", err, out, errOut)
	}
	if _, errOut, err := attestCLI(); err != nil || strings.Contains(errOut, "WARNING") {
		t.Fatalf("truce attest a second time after the restart: %v, want no warning\n%s", err, errOut)
	}
	// The attestation service's log shows both instances.
	out, errOut, err = truce(t, nil, "pas", "log", "--dir", w.ps.Dir, "--policy", w.pol.HashHex()[:16])
	if err != nil || strings.Count(out, "enclave-key=sha256:") != 2 || !strings.Contains(out, "2 enclave instances") {
		t.Fatalf("truce pas log --policy: %v, want two instances\n%s%s", err, out, errOut)
	}
}

// singleInstance rewrites the world's policy with
// attestation.single_instance.
func (w *world) singleInstance(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(w.polFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["attestation"].(map[string]any)["single_instance"] = true
	if b, err = json.MarshalIndent(doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	if w.pol, err = policy.Parse(b, time.Now()); err != nil {
		t.Fatalf("a policy with single_instance: %v", err)
	}
	if err := os.WriteFile(w.polFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAttackSingleInstance: under a policy with single_instance the
// enclave renews its certificate (same key), but a restarted enclave (a
// new key) is refused by the attestation service, and the host says why.
func TestAttackSingleInstance(t *testing.T) {
	ps := startPASArgs(t, newPASDir(t), "--cert-lifetime", "4s")
	w := newWorld(t, ps, worldOptions{})
	w.singleInstance(t)
	w.serve(t)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(w.host.Output(), "certificate renewed") {
		if time.Now().After(deadline) {
			t.Fatalf("no renewal within 30 s:\n%s", w.host.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.host.Stop()
	second := deploymenttest.Start(t, truceBin, deployment.Options{}, "host", "serve", "--platform", "sim", "--sim-device-key", ps.DeviceKey,
		"--listen", w.addr, "--policy", w.polFile)
	select {
	case <-second.Done():
	case <-time.After(60 * time.Second):
		t.Fatalf("the second enclave of a single-instance policy was not refused:\n%s", second.Output())
	}
	log := second.Output()
	if second.ExitCode() == 0 || strings.Contains(log, "ready ") || !strings.Contains(log, "second-instance") ||
		!strings.Contains(log, "single_instance") {
		t.Fatalf("second enclave: exit %d, want a refusal naming single_instance:\n%s", second.ExitCode(), log)
	}
	out, errOut, err := truce(t, nil, "pas", "log", "--dir", ps.Dir, "--policy", w.pol.HashHex())
	if err != nil || strings.Count(out, "enclave-key=") != 1 || strings.Contains(out, "certificates=1 ") {
		t.Fatalf("truce pas log --policy: %v, want one instance with its renewals\n%s%s", err, out, errOut)
	}
}

// cloneWorld is another policy with the same parties and service as w (a
// new name, so a new hash), served at another address.
func (w *world) cloneWorld(t *testing.T, name string) *world {
	t.Helper()
	b, err := os.ReadFile(w.polFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	o := &world{dir: t.TempDir(), ids: w.ids, ps: w.ps, addr: deploymenttest.FreeAddr(t)}
	doc["name"], doc["host"] = name, o.addr
	if b, err = json.MarshalIndent(doc, "", "  "); err != nil {
		t.Fatal(err)
	}
	if o.pol, err = policy.Parse(b, time.Now()); err != nil {
		t.Fatal(err)
	}
	o.polFile = filepath.Join(o.dir, "policy.json")
	if err := os.WriteFile(o.polFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return o
}

// TestAttackCurlTrustsAnyCertifiedEnclave settles the suspicion that the
// documented curl path trusts any enclave the attestation service
// certified: with only the CA bundle "truce attest --ca-bundle" writes,
// curl talks to another policy's enclave on another port as readily as to
// this one (it is so: curl checks no policy). The pin truce attest now
// gives (--pinnedpubkey sha256//…) binds curl to the enclave it checked:
// the other enclave is refused, this one answers.
func TestAttackCurlTrustsAnyCertifiedEnclave(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed: the test drives the real curl")
	}
	a := startWorld(t, worldOptions{})
	b := a.cloneWorld(t, "other")
	b.serve(t)
	cert, key := a.writeIdentity(t, "alice")
	dir := t.TempDir()
	bundle, pinFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "pin")
	out, errOut, err := truce(t, nil, "attest", "--policy", a.polFile, "--identity", cert, "--key", key, "--addr", a.addr,
		"--known-enclaves", "off", "--ca-bundle", bundle, "--pin", pinFile)
	if err != nil {
		t.Fatalf("truce attest --ca-bundle --pin: %v\n%s%s", err, out, errOut)
	}
	pinBytes, err := os.ReadFile(pinFile)
	if err != nil {
		t.Fatal(err)
	}
	pin := strings.TrimSpace(string(pinBytes))
	if !strings.HasPrefix(pin, "sha256//") || !strings.Contains(out, "--pinnedpubkey "+pin) {
		t.Fatalf("pin %q, output:\n%s", pin, out)
	}
	get := func(addr string, extra ...string) (string, error) {
		args := append([]string{"-sS", "--fail", "--max-time", "20", "--cacert", bundle, "--cert", cert, "--key", key}, extra...)
		cmd := exec.Command(curl, append(args, "https://"+addr+"/v1/policy")...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if err != nil {
			return e.String(), err
		}
		return o.String(), nil
	}
	// What curl does not check: any certified enclave passes --cacert.
	got, err := get(b.addr)
	if err != nil || got != string(b.pol.Bytes()) {
		t.Fatalf("curl --cacert to another policy's enclave: %v %q; expected it to be trusted (curl checks no policy)", err, got)
	}
	// What the pin adds.
	if got, err := get(b.addr, "--pinnedpubkey", pin); err == nil {
		t.Fatalf("curl with this enclave's pin accepted another policy's enclave: %q", got)
	} else if !strings.Contains(got, "pinned public key") {
		t.Logf("curl refused with: %s", got)
	}
	if got, err := get(a.addr, "--pinnedpubkey", pin); err != nil || got != string(a.pol.Bytes()) {
		t.Fatalf("curl with the pin to the enclave it names: %v %q", err, got)
	}
}

// TestAttackHostHoldsAttestTurns: a host with a credential opens as many
// POST /v1/attest requests as the service has host turns (8) and sends
// their bodies slowly, to keep every other host's enclaves from attesting.
// Before the fix it held all 8: its own ninth request, and host-2's, were
// refused as busy after a second ("attestation service busy: 8
// attestation requests are being checked, the most at once"), and host-2's
// enclave was refused as busy, again and again, until the service's read
// timeout (a minute) cut the slow requests. Now one host holds at most 4; beyond that it is
// refused at once (429 rate-limited, Retry-After, naming the host), and
// host-2's enclave attests and serves.
func TestAttackHostHoldsAttestTurns(t *testing.T) {
	dir := newPASDir(t)
	cred1File := hostCredential(t, dir, "host-1")
	cred2File := hostCredential(t, dir, "host-2")
	ps := startPASArgs(t, dir)
	w := newWorld(t, ps, worldOptions{})
	cred1, err := pas.ReadCredential(cred1File)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ps.CACert)
	addr := strings.TrimPrefix(ps.URL, "https://")
	const turns = pas.DefaultAttestsAtOnce
	for range turns {
		slow, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		fmt.Fprintf(slow, "POST /v1/attest HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{\"platform\":", addr, cred1)
	}
	dev, err := simprovider.LoadDevice(ps.DeviceKey)
	if err != nil {
		t.Fatal(err)
	}
	prov := simprovider.NewProvider(dev, measurement)
	ca, err := paswire.ParseChainPEM(ps.CACert)
	if err != nil {
		t.Fatal(err)
	}
	host1 := &paswire.Client{URL: ps.URL, CA: ca[0], Credential: cred1}
	ctx := context.Background()
	// Once the slow requests hold what host-1 may hold (the first tries
	// may come before they do), host-1 is refused.
	var refusal error
	for try := 0; refusal == nil; try++ {
		if _, err := attestRound(ctx, host1, prov, w.pol); err != nil {
			refusal = err
		} else if try == 50 {
			t.Fatal("host-1 still attests while its slow requests should hold its turns")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var p *paswire.ProblemError
	if !errors.Is(refusal, paswire.ErrRateLimited) || !errors.As(refusal, &p) || p.RetryAfter <= 0 || !strings.Contains(p.Detail, "host-1") {
		t.Errorf("host-1 refused with %v: want rate limited, naming the host, with a Retry-After", refusal)
	}
	// host-2's enclave attests, and serves, meanwhile.
	w.serve(t, "--pas-credential", cred2File)
	if _, err := w.dial(t, "alice").Policy(ctx); err != nil {
		t.Fatalf("host-2's enclave, started while host-1 holds its turns, does not serve: %v", err)
	}
	if log := w.host.Output(); strings.Contains(log, "attestation service busy") {
		t.Fatalf("host-2's enclave was refused as busy while host-1 held its turns:\n%s", log)
	}
}
