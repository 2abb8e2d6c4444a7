package attack

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/client"
)

// A relay direction.
const (
	toEnclave = iota
	toClient
)

// proxy is the malicious host's relay: it sits between clients and the
// real host and does to each connection what handle says.
type proxy struct {
	ln     net.Listener
	wg     sync.WaitGroup
	handle func(n int, c net.Conn)
	count  atomic.Int64
}

func newProxy(t testing.TB, handle func(n int, c net.Conn)) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, handle: handle}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(p.count.Add(1)) - 1
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				p.handle(n, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// relay copies both ways between c and a new connection to target; edit
// may change each chunk (dir, offset of the chunk in its direction).
func relay(c net.Conn, target string, edit func(dir int, off int64, b []byte) ([]byte, bool)) {
	up, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	copyDir := func(dst, src net.Conn, dir int) {
		defer wg.Done()
		buf := make([]byte, 32<<10)
		var off int64
		for {
			k, err := src.Read(buf)
			if k > 0 {
				b := buf[:k]
				keep := true
				if edit != nil {
					b, keep = edit(dir, off, b)
				}
				off += int64(k)
				if !keep {
					dst.Close()
					src.Close()
					return
				}
				if _, err := dst.Write(b); err != nil {
					return
				}
			}
			if err != nil {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				return
			}
		}
	}
	wg.Add(2)
	go copyDir(up, c, toEnclave)
	go copyDir(c, up, toClient)
	wg.Wait()
}

// TestTamperedRelay: the host flips one bit of what it relays, at many
// places in each direction (handshake, certificates, requests, bodies,
// answers). Every tampered exchange fails; the file being replaced is
// either still its old version or the whole new one, never altered; and
// the runtime serves on.
func TestTamperedRelay(t *testing.T) {
	w := startWorld(t, worldOptions{})
	old := []byte("version one")
	w.put(t, "alice", "/input/alice.dat", old)
	before := w.snapshot(t)
	data := bytes.Repeat([]byte("new secret bytes "), 4096) // 68 KiB
	offsets := []int64{0, 5, 40, 300, 700, 1200, 2000, 3000, 5000, 9000, 20000, 60000}
	tampered, refused := 0, 0
	for _, dir := range []int{toEnclave, toClient} {
		for _, at := range offsets {
			var hit atomic.Bool
			p := newProxy(t, func(_ int, c net.Conn) {
				relay(c, w.addr, func(d int, off int64, b []byte) ([]byte, bool) {
					if d == dir && at >= off && at < off+int64(len(b)) && !hit.Swap(true) {
						b = append([]byte(nil), b...)
						b[at-off] ^= 0x10
					}
					return b, true
				})
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			var err error
			s, derr := client.Dial(ctx, w.pol, w.ids["alice"], client.WithAddr(p.addr()))
			if derr != nil {
				err = derr
			} else {
				_, err = s.Put(ctx, "/input/alice.dat", bytes.NewReader(data))
				s.Close()
			}
			cancel()
			if !hit.Load() {
				continue // the exchange was shorter than the offset
			}
			tampered++
			if err == nil {
				t.Errorf("direction %d, byte %d flipped: the exchange succeeded", dir, at)
				continue
			}
			refused++
			// The file is the old version (or, if the flip hit the answer
			// after the enclave stored the upload, the whole new one).
			var got bytes.Buffer
			if _, gerr := w.dial(t, "rita").Get(context.Background(), "/input/alice.dat", &got); gerr != nil {
				t.Fatalf("reading back: %v", gerr)
			}
			if !bytes.Equal(got.Bytes(), old) && !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("direction %d, byte %d flipped: the file was altered (%d bytes)", dir, at, got.Len())
			}
			if !bytes.Equal(got.Bytes(), old) {
				w.put(t, "alice", "/input/alice.dat", old)
			}
		}
	}
	if tampered < 10 {
		t.Fatalf("only %d exchanges were tampered with", tampered)
	}
	t.Logf("%d tampered exchanges, %d refused", tampered, refused)
	// An upload whose answer was tampered with may still be stored whole,
	// after the read-back above: alice.dat is one of the two versions.
	time.Sleep(200 * time.Millisecond)
	after := w.snapshot(t)
	for p, v := range before {
		if p == "/input/alice.dat" {
			if h := sha(data); after[p] != v && after[p] != h {
				t.Errorf("alice.dat altered: %s", after[p])
			}
			continue
		}
		if after[p] != v {
			t.Errorf("%s changed", p)
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestReplayedServerFlight: the host records an enclave's answer (its
// certificate, signed handshake and first response) and replays it to a
// later client instead of relaying. Without the enclave's key the replay
// cannot finish a handshake: the client refuses and sends nothing.
func TestReplayedServerFlight(t *testing.T) {
	w := startWorld(t, worldOptions{})
	var mu sync.Mutex
	var recorded []byte
	var sentToReplay atomic.Int64
	p := newProxy(t, func(n int, c net.Conn) {
		if n == 0 {
			relay(c, w.addr, func(d int, _ int64, b []byte) ([]byte, bool) {
				if d == toClient {
					mu.Lock()
					recorded = append(recorded, b...)
					mu.Unlock()
				}
				return b, true
			})
			return
		}
		mu.Lock()
		rec := append([]byte(nil), recorded...)
		mu.Unlock()
		go func() {
			k, _ := io.Copy(io.Discard, c)
			sentToReplay.Add(k)
		}()
		c.Write(rec)
		time.Sleep(500 * time.Millisecond)
	})
	s, err := client.Dial(context.Background(), w.pol, w.ids["alice"], client.WithAddr(p.addr()))
	if err != nil {
		t.Fatalf("the recorded exchange: %v", err)
	}
	s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err = client.Dial(ctx, w.pol, w.ids["alice"], client.WithAddr(p.addr()))
	if err == nil {
		t.Fatal("a replayed enclave answer was accepted")
	}
	t.Logf("replay refused: %v", err)
	// What reached the replaying host is the ClientHello and at most an
	// alert: never the client certificate flight or a request.
	if k := sentToReplay.Load(); k > 2048 {
		t.Fatalf("the client sent %d bytes to the replay", k)
	}
}

// TestReplayedClientUpload: the host records a client's upload and
// replays it to the enclave later, after the client has written a newer
// version. The enclave's fresh handshake makes the replay fail: the file
// keeps the newer version.
func TestReplayedClientUpload(t *testing.T) {
	w := startWorld(t, worldOptions{})
	var mu sync.Mutex
	var recorded []byte
	p := newProxy(t, func(_ int, c net.Conn) {
		relay(c, w.addr, func(d int, _ int64, b []byte) ([]byte, bool) {
			if d == toEnclave {
				mu.Lock()
				recorded = append(recorded, b...)
				mu.Unlock()
			}
			return b, true
		})
	})
	s, err := client.Dial(context.Background(), w.pol, w.ids["alice"], client.WithAddr(p.addr()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(context.Background(), "/input/alice.dat", strings.NewReader("old version")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	w.put(t, "alice", "/input/alice.dat", []byte("new version"))
	before := w.snapshot(t)
	mu.Lock()
	rec := append([]byte(nil), recorded...)
	mu.Unlock()
	c, err := net.Dial("tcp", w.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(rec)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c)
	c.Close()
	w.unchanged(t, before)
}

// TestOlderOrOtherPolicy: the host serves an enclave running an older,
// more generous policy (mallory may write alice's input) and routes
// alice's connection to it. alice's client refuses it: the enclave's
// certificate names another policy. The older enclave never sees alice's
// request.
func TestOlderOrOtherPolicy(t *testing.T) {
	ps := startPAS(t)
	cur := newWorld(t, ps, worldOptions{name: "attack"})
	older := newWorld(t, ps, worldOptions{name: "attack", extra: map[string]map[string]string{"mallory": {"/input/alice.dat": "w"}}})
	older.serve(t)
	for _, name := range []string{older.pol.ServerName(), cur.pol.ServerName()} {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, err := client.Dial(ctx, cur.pol, cur.ids["alice"], client.WithOptions(client.Options{Addr: older.addr, ServerName: name}))
		cancel()
		if err == nil {
			t.Fatalf("alice's client accepted the enclave of another policy (server name %s)", name)
		}
		if name == older.pol.ServerName() && !errors.Is(err, attest.ErrPolicyMismatch) {
			t.Fatalf("routed to the older policy's enclave: %v, want ErrPolicyMismatch", err)
		}
		t.Logf("server name %s: %v", name, err)
	}
	// The older enclave has nothing of alice's.
	var b bytes.Buffer
	if _, err := older.dial(t, "rita").Get(context.Background(), "/input/alice.dat", &b); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("the older enclave holds alice's file: %v", err)
	}
}

// slowReader yields its data in small pieces, pausing between them, and
// calls at once it has yielded at bytes.
type slowReader struct {
	data  []byte
	at    int
	once  sync.Once
	event func()
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	if s.at <= 0 {
		s.once.Do(s.event)
	}
	n := copy(p[:min(len(p), 32<<10)], s.data)
	s.data = s.data[n:]
	s.at -= n
	time.Sleep(5 * time.Millisecond)
	return n, nil
}

// TestRuntimeKilledMidUpload: the host kills the enclave while alice's
// upload is under way. alice's upload fails (she is told), the host does
// not restart the enclave silently but ends with an error, and a new
// enclave of the policy starts empty: nothing half-written survives.
func TestRuntimeKilledMidUpload(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.put(t, "alice", "/input/alice.dat", []byte("version one"))
	kids := w.host.Children()
	if len(kids) != 1 {
		t.Fatalf("host has %d children, want its runtime", len(kids))
	}
	data := bytes.Repeat([]byte("z"), 4<<20)
	sr := &slowReader{data: data, at: 1 << 20, event: func() { syscall.Kill(kids[0], syscall.SIGKILL) }}
	alice := w.dial(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := alice.Put(ctx, "/input/alice.dat", io.MultiReader(sr))
	if err == nil {
		t.Fatal("the upload succeeded although the enclave was killed under it")
	}
	t.Logf("upload: %v", err)
	select {
	case <-w.host.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the host went on after its runtime died")
	}
	if code := w.host.ExitCode(); code == 0 {
		t.Fatalf("host exited 0 after its runtime died:\n%s", w.host.Output())
	}
	// Restarted by its operator: a new, empty enclave of the same policy.
	w.serve(t)
	var got bytes.Buffer
	if _, err := w.dial(t, "rita").Get(context.Background(), "/input/alice.dat", &got); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("after the restart alice.dat reads %d bytes, %v: want absent", got.Len(), err)
	}
	w.put(t, "alice", "/input/alice.dat", data)
}

// TestDroppedMidUpload: the host cuts the connection half-way through a
// replacing upload. The upload fails and the file keeps its old version
// whole.
func TestDroppedMidUpload(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.put(t, "alice", "/input/alice.dat", []byte("version one"))
	before := w.snapshot(t)
	p := newProxy(t, func(_ int, c net.Conn) {
		relay(c, w.addr, func(d int, off int64, b []byte) ([]byte, bool) {
			return b, !(d == toEnclave && off > 2<<20)
		})
	})
	s, err := client.Dial(context.Background(), w.pol, w.ids["alice"], client.WithAddr(p.addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(context.Background(), "/input/alice.dat", bytes.NewReader(bytes.Repeat([]byte("d"), 6<<20))); err == nil {
		t.Fatal("an upload cut half-way succeeded")
	}
	w.unchanged(t, before)
	if os.Getenv("TRUCE_DEBUG") != "" {
		t.Log(w.host.Output())
	}
}
