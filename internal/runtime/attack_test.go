package runtime

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/capability"
)

// Attacks on the API server's bounds (issue 17, second round).

// certOnlyConn relays a TLS client's bytes but, after its first encrypted
// handshake record (the client's Certificate message), drops the rest (its
// CertificateVerify and Finished): the server has seen a principal's
// certificate, and never a proof that the sender holds its key.
type certOnlyConn struct {
	net.Conn
	mu        sync.Mutex
	pending   []byte
	encrypted int // encrypted records seen
}

func (c *certOnlyConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = append(c.pending, b...)
	for len(c.pending) >= 5 {
		n := 5 + int(c.pending[3])<<8 | int(c.pending[4])
		if len(c.pending) < n {
			break
		}
		rec := c.pending[:n]
		c.pending = c.pending[n:]
		if rec[0] == 23 { // application_data: an encrypted handshake record
			c.encrypted++
			if c.encrypted > 1 {
				continue
			}
		}
		if _, err := c.Conn.Write(rec); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// keylessSigner stands for a key the attacker does not have: it has the
// certificate's public key and signs garbage.
type keylessSigner struct{ pub crypto.PublicKey }

func (s keylessSigner) Public() crypto.PublicKey { return s.pub }
func (s keylessSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	b := make([]byte, 72)
	_, _ = rand.Read(b)
	return b, nil
}

// certOnly opens a connection to the enclave presenting cert (public: it
// is in the policy) without its key, and leaves it waiting for the proof.
func (w *world) certOnly(t *testing.T, cert []byte) net.Conn {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial(w.network, w.addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(&certOnlyConn{Conn: raw}, &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true,
		Certificates:       []tls.Certificate{{Certificate: [][]byte{cert}, PrivateKey: keylessSigner{leaf.PublicKey}, Leaf: leaf}},
	})
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil { // the client thinks it done; the server waits
		raw.Close()
		t.Fatalf("handshake: %v", err)
	}
	return raw
}

// TestAttackConnSlotsWithoutKey: an anonymous caller (or the host) who
// knows alice's certificate (every party and the host has the policy)
// but not her key sends it in a handshake and never proves it. Before the
// fix the connection was counted against alice's bound as soon as the
// certificate arrived, before its proof (CertificateVerify): a handful of
// such connections, renewed before the handshake timeout, kept alice out
// (429 on every connection) for as long as the attacker liked.
// It failed on 3626b4c. Now a connection is counted only once its
// handshake is complete (at its first request, in serveHTTP), and one
// that carries no request within Stall of being accepted is closed.
func TestAttackConnSlotsWithoutKey(t *testing.T) {
	const bound = 4
	w := newWorld(t, worldOptions{server: ServerLimits{Stall: 2 * time.Second, ConnsPerPrincipal: bound}})
	w.start()
	alice := w.ids["alice"].TLSCertificate().Certificate[0]
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	// The attacker renews its connections every second for 4 s, two
	// stall bounds; alice asks meanwhile, over a fresh connection each time.
	stop := time.Now().Add(4 * time.Second)
	refused, asked := 0, 0
	for time.Now().Before(stop) {
		for range bound {
			held = append(held, w.certOnly(t, alice))
		}
		time.Sleep(100 * time.Millisecond) // the server has read the certificates
		if n := w.rt.conns.count(keyOf(alice)); n > 0 {
			t.Fatalf("%d connections that never proved alice's key are counted as hers", n)
		}
		for range 4 {
			c := w.client("alice", false)
			r, err := c.do(http.MethodGet, api.PathPolicy, nil)
			asked++
			c.hc.CloseIdleConnections() // alice's own connections never pile up
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			if r.status != http.StatusOK {
				refused++
				t.Logf("alice refused: %d %s", r.status, r.body)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	if refused > 0 {
		t.Fatalf("alice was refused %d of %d requests while someone without her key held her connection places", refused, asked)
	}
	t.Logf("alice served %d of %d while %d keyless connections named her", asked-refused, asked, len(held))
}

// TestAttackQueuedRuns: rita queues five runs of a program that bob may
// run too, each as long as exec_seconds allows. bob's run must come after
// at most one more of hers (runs are served by principal in turn), a
// change of policy must wait only for the run in progress (queued runs
// hold no lock), and rita's queued runs must end when she gives up.
// (On the code before, runs waited in one lock holding runGate: bob waited
// for all five of rita's runs, and so did every successor.)
func TestAttackQueuedRuns(t *testing.T) {
	w := newWorld(t, worldOptions{execSeconds: 1, caps: map[string]capability.Set{"bob": {pLoop: capability.Execute}}})
	w.start()
	w.client("paula", true).put(pLoop, w.misWasm, http.StatusCreated)
	q := w.rt.progQs.of(pLoop)

	var (
		mu    sync.Mutex
		order []string
	)
	run := func(ctx context.Context, c *client) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://enclave"+api.PathRun+strings.TrimPrefix(pLoop, "/"), nil)
		if err != nil {
			return 0, err
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnprocessableEntity {
			mu.Lock()
			order = append(order, c.name)
			t.Logf("%s: %s's run ended", time.Now().Format("15:04:05.000"), c.name)
			mu.Unlock()
		}
		return resp.StatusCode, nil
	}
	ran := func() int { mu.Lock(); defer mu.Unlock(); return len(order) }
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	ritaCtx, giveUp := context.WithCancel(context.Background())
	defer giveUp()
	rita := w.client("rita", true)
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() { defer wg.Done(); run(ritaCtx, rita) }()
	}
	waitFor("rita's runs to queue", func() bool { return q.waiters() == 4 })

	// A change of policy takes runGate for writing: it must get it once
	// the run in progress ends, not after the queue.
	gate := make(chan int)
	go func() {
		w.rt.runGate.Lock()
		n := ran()
		time.Sleep(50 * time.Millisecond)
		w.rt.runGate.Unlock()
		gate <- n
	}()
	if n := <-gate; n > 1 {
		t.Errorf("a change of policy waited for %d runs; it must wait only for the one in progress", n)
	}

	before := ran()
	bobDone := make(chan error, 1)
	go func() {
		st, err := run(context.Background(), w.client("bob", true))
		if err == nil && st != http.StatusUnprocessableEntity {
			err = fmt.Errorf("bob's run: status %d", st)
		}
		bobDone <- err
	}()
	if err := <-bobDone; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	after := len(order) - 1 - before // rita's runs that ended between bob's request and his run's end
	got := append([]string(nil), order...)
	mu.Unlock()
	if after > 2 {
		t.Errorf("bob waited for %d of rita's runs (order %v); he must wait for at most the one in progress and one more: one principal's queue delayed another's run", after, got)
	}
	giveUp()
	wg.Wait()
	waitFor("rita's queued runs to end with her requests", func() bool { return q.waiters() == 0 })
	if got := ran(); got > 4 {
		t.Errorf("%d runs ran after rita gave up on hers", got)
	}
}
