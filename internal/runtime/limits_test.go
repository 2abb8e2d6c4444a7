package runtime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/policy"
)

func TestServerLimitsDefaults(t *testing.T) {
	cases := []struct {
		name string
		in   ServerLimits
		want ServerLimits
		err  bool
	}{
		{"zero", ServerLimits{}, ServerLimits{DefaultStall, DefaultIdle, DefaultConnsPerPrincipal, DefaultRequestsPerPrincipal}, false},
		{"some", ServerLimits{Stall: time.Second, RequestsPerPrincipal: 3}, ServerLimits{time.Second, DefaultIdle, DefaultConnsPerPrincipal, 3}, false},
		{"all", ServerLimits{1, 2, 3, 4}, ServerLimits{1, 2, 3, 4}, false},
		{"negative stall", ServerLimits{Stall: -1}, ServerLimits{}, true},
		{"negative conns", ServerLimits{ConnsPerPrincipal: -1}, ServerLimits{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.in.withDefaults()
			if (err != nil) != c.err {
				t.Fatalf("error %v, want error %v", err, c.err)
			}
			if err == nil && got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
	if DefaultStall > 10*time.Second {
		t.Fatalf("the default stall bound %v is above the 10 s the threat model promises", DefaultStall)
	}
}

func TestCounter(t *testing.T) {
	var c counter
	a, b := keyOf([]byte("alice")), keyOf([]byte("bob"))
	for i := 0; i < 3; i++ {
		if !c.take(a, 3) {
			t.Fatalf("take %d of 3 refused", i+1)
		}
	}
	if c.take(a, 3) {
		t.Fatal("a fourth of 3 was given")
	}
	if !c.take(b, 3) {
		t.Fatal("bob was refused for alice's count")
	}
	c.put(a)
	if !c.take(a, 3) {
		t.Fatal("a place given back was not taken again")
	}
	c.put(a)
	c.put(a)
	c.put(a)
	c.put(b)
	if len(c.n) != 0 {
		t.Fatalf("counts left after every put: %v", c.n)
	}
}

// TestLimitedConnWriteStall: a write the peer does not take within the
// stall bound fails with a timeout, whatever the server's own deadline;
// writes that move are not cut however long the transfer.
func TestLimitedConnWriteStall(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	const stall = 300 * time.Millisecond
	c := &limitedConn{Conn: a, stall: stall}
	c.SetWriteDeadline(time.Time{}) // the server sets none
	go func() {
		// Take 40 writes slowly (each well within the bound), then stop.
		buf := make([]byte, 10)
		for i := 0; i < 40; i++ {
			time.Sleep(stall / 10)
			if _, err := io.ReadFull(b, buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	for i := 0; i < 40; i++ {
		if _, err := c.Write(make([]byte, 10)); err != nil {
			t.Fatalf("write %d, which the peer takes in time: %v", i, err)
		}
	}
	if time.Since(start) < 2*stall {
		t.Fatalf("the slow reader took 40 writes in %v: the test does not test a transfer longer than the bound", time.Since(start))
	}
	_, err := c.Write(make([]byte, 10))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a write nobody takes: %v, want a deadline error", err)
	}
}

// TestLimitedConnAdmit: connections past a principal's bound are marked
// refused and give no place back; closing an admitted one frees a place.
func TestLimitedConnAdmit(t *testing.T) {
	var conns counter
	mk := func() *limitedConn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &limitedConn{Conn: a, stall: time.Hour}
	}
	cert := []byte("mallory's certificate")
	first, second, third := mk(), mk(), mk()
	for _, c := range []*limitedConn{first, second, third} {
		c.admit(&conns, cert, 2)
	}
	if first.refused() != nil || second.refused() != nil {
		t.Fatal("a connection within the bound was refused")
	}
	if err := third.refused(); !errors.Is(err, ErrTooManyConnections) {
		t.Fatalf("the third of 2: %v", err)
	}
	third.Close()
	if n := conns.count(keyOf(cert)); n != 2 {
		t.Fatalf("closing a refused connection changed the count to %d", n)
	}
	first.Close()
	first.Close()
	if n := conns.count(keyOf(cert)); n != 1 {
		t.Fatalf("after closing one admitted connection (twice) the count is %d, want 1", n)
	}
	fourth := mk()
	fourth.admit(&conns, cert, 2)
	if fourth.refused() != nil {
		t.Fatal("a freed place was not given")
	}
}

// TestProgressBody: a body that stops is cut after the stall bound, and
// a body that trickles past the bound is read whole.
func TestProgressBody(t *testing.T) {
	const stall = 600 * time.Millisecond
	got := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		pb := &progressBody{ReadCloser: req.Body, rc: http.NewResponseController(w), stall: stall}
		b, err := io.ReadAll(pb)
		if err == nil && string(b) != "abcdef" {
			err = fmt.Errorf("read %q", b)
		}
		if failed := pb.settle(); failed != (err != nil) {
			err = fmt.Errorf("settle says failed=%v after %v", failed, err)
		}
		got <- err
	}))
	defer srv.Close()
	cases := []struct {
		name  string
		parts []string
		pause time.Duration
		ok    bool
	}{
		{"trickles past the bound", []string{"ab", "cd", "ef"}, stall * 5 / 12, true},
		{"stops", []string{"ab"}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
			start := time.Now()
			for _, p := range c.parts {
				time.Sleep(c.pause)
				io.WriteString(conn, p)
			}
			select {
			case err := <-got:
				if c.ok && err != nil {
					t.Fatalf("a moving body was cut after %v: %v", time.Since(start), err)
				}
				if !c.ok && err == nil {
					t.Fatal("a stopped body was read whole")
				}
				if c.ok && time.Since(start) < stall {
					t.Fatal("the body arrived within the bound: the test does not test a slow one")
				}
			case <-time.After(10 * stall):
				t.Fatalf("no end after %v", 10*stall)
			}
			if !c.ok {
				// The handler's answer closes nothing here (plain
				// handler), but the connection is answered or closed.
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil && strings.Contains(err.Error(), "timeout") {
					t.Fatalf("no answer after the cut: %v", err)
				}
			}
		})
	}
}

// TestLockedBodyPolicyChange: an upload lets go of the policy lock while
// its body arrives; a successor taking effect meanwhile (it can take the
// write lock) makes the body end with errPolicyChanged, and the request
// holds the read lock again at the end either way.
func TestLockedBodyPolicyChange(t *testing.T) {
	for _, change := range []bool{false, true} {
		t.Run(fmt.Sprintf("change=%v", change), func(t *testing.T) {
			p1, p2 := &policy.Policy{}, &policy.Policy{}
			r := &Runtime{pol: p1}
			rq := &request{}
			r.lock(rq, heldRead)
			src := readerFunc(func(p []byte) (int, error) {
				// The lock is free while the client's bytes arrive: a
				// change of policy can take it.
				if !r.polMu.TryLock() {
					return 0, errors.New("the policy lock is held while the body arrives")
				}
				if change {
					r.pol = p2
				}
				r.polMu.Unlock()
				return 0, io.EOF
			})
			lb := r.lockedBody(rq, src)
			ends := 0
			lb.atEnd = func() error { ends++; return nil }
			_, err := io.ReadAll(lb)
			if rq.held != heldRead {
				t.Fatal("the request does not hold the read lock after the body")
			}
			ferr := lb.finish()
			r.unlock(rq)
			if change {
				if !errors.Is(err, errPolicyChanged) || !errors.Is(ferr, errPolicyChanged) {
					t.Fatalf("after a change: %v, %v", err, ferr)
				}
				if ends != 0 {
					t.Fatal("atEnd ran after a change of policy")
				}
				return
			}
			if err != nil || ferr != nil || ends != 1 {
				t.Fatalf("without a change: %v, %v, atEnd ran %d times", err, ferr, ends)
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// swapWriter is a ResponseWriter that makes a change of policy take
// effect during its first write, as a successor would while a read
// streams.
type swapWriter struct {
	httptest.ResponseRecorder
	r    *Runtime
	next *policy.Policy
}

func (s *swapWriter) Write(b []byte) (int, error) {
	if s.next != nil {
		s.r.polMu.Lock() // send holds no lock while it writes
		s.r.pol, s.next = s.next, nil
		s.r.polMu.Unlock()
	}
	return s.ResponseRecorder.Write(b)
}

// TestSendStreamsUnderItsPolicy: a file read streams whole when the
// policy stays; when a successor takes effect during the stream, the
// stream stops at the next chunk (errAborted), never sending bytes read
// after the change.
func TestSendStreamsUnderItsPolicy(t *testing.T) {
	fs := vfs.New(vfs.Limits{}, time.Now)
	admin := fs.View(capability.Set{"/": capability.All})
	data := bytes.Repeat([]byte("0123456789"), 3*sendChunk/10+7)
	if _, err := admin.WriteFile("/f", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, change := range []bool{false, true} {
		t.Run(fmt.Sprintf("change=%v", change), func(t *testing.T) {
			p1 := &policy.Policy{}
			r := &Runtime{pol: p1}
			s, err := admin.Open("/f")
			if err != nil {
				t.Fatal(err)
			}
			sw := &swapWriter{ResponseRecorder: *httptest.NewRecorder(), r: r}
			if change {
				sw.next = &policy.Policy{}
			}
			d := &deferredResponse{w: sw}
			d.WriteHeader(http.StatusOK)
			d.streamFile(s, p1)
			err = r.send(d, time.Second)
			got := sw.Body.Bytes()
			if !change {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("sent %d of %d bytes: %v", len(got), len(data), err)
				}
				return
			}
			if !errors.Is(err, errAborted) || len(got) != sendChunk || !bytes.Equal(got, data[:sendChunk]) {
				t.Fatalf("after a change: sent %d bytes (%v), want the first chunk of %d and errAborted", len(got), err, sendChunk)
			}
		})
	}
}
