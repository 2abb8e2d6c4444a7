package attack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/deployment"
)

// TestMalformedHTTP: a principal sends requests no client would. Each
// is answered with a 4xx (or 505) and the connection closed, and the
// runtime serves on with every file as it was.
func TestMalformedHTTP(t *testing.T) {
	w := startWorld(t, worldOptions{})
	w.put(t, "alice", "/input/alice.dat", []byte("alice's secret"))
	before := w.snapshot(t)
	long := strings.Repeat("a", 100<<10)
	cases := []struct{ name, req string }{
		{"garbage", "GARBAGE\r\n\r\n"},
		{"binary", "\x00\x01\x02\xff\xfe\r\n\r\n"},
		{"bad version", "GET /v1/policy HTTP/9.9\r\nHost: x\r\n\r\n"},
		{"no host", "GET /v1/policy HTTP/1.1\r\n\r\n"},
		{"huge header", "GET /v1/policy HTTP/1.1\r\nHost: x\r\nX-Big: " + long + "\r\n\r\n"},
		{"many headers", "GET /v1/policy HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: b\r\n", 20000) + "\r\n"},
		{"huge URL", "GET /v1/files/" + long + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"negative length", "PUT /v1/files/input/alice.dat HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"},
		{"overflowing length", "PUT /v1/files/input/alice.dat HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"},
		{"two lengths", "PUT /v1/files/input/alice.dat HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"},
		{"length and chunked", "PUT /v1/files/input/mallory/y HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
		{"bad chunk", "PUT /v1/files/input/alice.dat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{"chunk past the limit", "PUT /v1/files/input/alice.dat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\nabc"},
		{"truncated chunked", "PUT /v1/files/input/alice.dat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"},
		{"unknown coding", "PUT /v1/files/input/alice.dat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc"},
		{"NUL in path", "GET /v1/files/input/alice.dat\x00x HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"HTTP/2 preface over HTTP/1.1", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"absolute URL elsewhere", "GET http://169.254.169.254/latest HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"CONNECT", "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			who := "alice"
			if strings.Contains(c.req, "mallory") {
				who = "mallory"
			}
			conn := w.rawConn(t, who)
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			go func() {
				io.WriteString(conn, c.req)
				if tc, ok := any(conn).(interface{ CloseWrite() error }); ok && strings.HasSuffix(c.req, "abc") {
					tc.CloseWrite()
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body := readAll(resp.Body)
			if c.name == "length and chunked" && resp.StatusCode < 300 {
				// RFC 9112 6.3: chunked overrides the length. The host
				// relays bytes only, so no intermediary reads the
				// message otherwise (no request smuggling).
				t.Logf("%d (chunked wins over the length)", resp.StatusCode)
				return
			}
			if resp.StatusCode < 400 || resp.StatusCode == 500 || (resp.StatusCode > 500 && resp.StatusCode != 501 && resp.StatusCode != 505) {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			t.Logf("%d %s", resp.StatusCode, strings.SplitN(body, "\n", 2)[0])
		})
	}
	w.unchanged(t, before)
}

// works checks that alice can still write and read back, within 30 s.
func (w *world) works(t testing.TB, what string) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	data := []byte(fmt.Sprintf("written while %s", what))
	s := w.dial(t, "alice")
	if _, err := s.Put(ctx, "/input/alice.dat", bytes.NewReader(data)); err != nil {
		t.Fatalf("alice's write while %s: %v", what, err)
	}
	var got bytes.Buffer
	if _, err := w.dial(t, "rita").Get(ctx, "/input/alice.dat", &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("read back while %s: %q, %v", what, got.Bytes(), err)
	}
	return time.Since(start)
}

// TestSlowAndManyConnections: while thousands of connections are held
// open on the host (silent ones, ones stopping half-way through a
// ClientHello, attested ones stopping half-way through a request, idle
// attested ones), a principal is served. The host drops the silent
// connections after its ClientHello timeout (10 s).
func TestSlowAndManyConnections(t *testing.T) {
	w := startWorld(t, worldOptions{})
	hostPid := w.host.Pid()
	rtPid := deployment.Children(hostPid)[0]
	rss0h, rss0r := rss(hostPid), rss(rtPid)
	const silent, halfHello, halfRequest, idle = 2000, 200, 200, 300
	var conns []net.Conn
	var mu sync.Mutex
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < silent; i++ {
		c, err := net.Dial("tcp", w.addr)
		if err != nil {
			t.Fatalf("silent connection %d: %v", i, err)
		}
		keep(c)
	}
	// Half a ClientHello: a real one, cut.
	hello := clientHelloBytes(t, w)
	for i := 0; i < halfHello; i++ {
		c, err := net.Dial("tcp", w.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(hello[:len(hello)/2])
		keep(c)
	}
	var wg sync.WaitGroup
	errs := make(chan error, halfRequest+idle)
	sem := make(chan struct{}, 16)
	for i := 0; i < halfRequest+idle; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", w.addr, w.tlsConfig("bob"))
			if err != nil {
				errs <- err
				return
			}
			if i < halfRequest {
				io.WriteString(c, "PUT /v1/files/input/bob.dat HTTP/1.1\r\nHost: x\r\nContent-Le")
			}
			keep(c)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("attested connection: %v", err)
	}
	held := len(conns)
	d := w.works(t, fmt.Sprintf("%d connections are held", held))
	rss1h, rss1r := rss(hostPid), rss(rtPid)
	t.Logf("%d connections held (%d silent, %d half ClientHello, %d half request, %d idle TLS); a write and read took %v",
		held, silent, halfHello, halfRequest, idle, d.Round(time.Millisecond))
	t.Logf("host RSS %d → %d MiB, runtime RSS %d → %d MiB", rss0h>>20, rss1h>>20, rss0r>>20, rss1r>>20)

	// The host closes connections that never send a ClientHello.
	deadline := time.Now().Add(25 * time.Second)
	closed := 0
	buf := make([]byte, 1)
	for _, c := range conns[:silent+halfHello] {
		c.SetReadDeadline(deadline)
		if _, err := c.Read(buf); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed != silent+halfHello {
		t.Fatalf("the host closed %d of %d connections that sent no whole ClientHello", closed, silent+halfHello)
	}
	w.works(t, "after the silent connections were dropped")
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// clientHelloBytes captures a real ClientHello for w's enclave.
func clientHelloBytes(t testing.TB, w *world) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		c := tls.Client(a, w.tlsConfig("bob"))
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Handshake()
		a.Close()
	}()
	b.SetDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64<<10)
	n, _ := io.ReadAtLeast(b, buf, 5)
	b.Close()
	if n < 100 {
		t.Fatal("no ClientHello captured")
	}
	return buf[:n]
}

// TestSlowRequestHeaders: an attested client that stops half-way through
// its request headers is dropped by the runtime after its header timeout
// (30 s). Runs with TRUCE_LONG=1.
func TestSlowRequestHeaders(t *testing.T) {
	long(t)
	w := startWorld(t, worldOptions{})
	c := w.rawConn(t, "bob")
	io.WriteString(c, "PUT /v1/files/input/bob.dat HTTP/1.1\r\nHost: x\r\nContent-Le")
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	_, err := io.ReadAll(c)
	if isTimeout(err) {
		t.Fatal("the runtime held a stalled request for 60 s")
	}
	t.Logf("dropped after %v (%v)", time.Since(start).Round(time.Second), err)
	w.works(t, "after a stalled request")
}
