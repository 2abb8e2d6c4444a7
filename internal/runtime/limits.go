package runtime

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// This file holds what keeps one party from freezing the others: the
// server's timeouts, which cut a connection that stops moving bytes, and
// the bounds on connections and requests per principal. The rule is that
// no request holds a lock another party needs while it waits on the
// network or on its client (RATIONALE.md, "Why can no party
// freeze the enclave?").

// Defaults of ServerLimits.
const (
	// DefaultStall is how long a connection may move no bytes while the
	// runtime waits to read a request or to write a response.
	DefaultStall = 10 * time.Second
	// DefaultIdle is how long a kept-alive connection may wait for its
	// next request.
	DefaultIdle = 60 * time.Second
	// DefaultConnsPerPrincipal bounds the open connections of one
	// principal.
	DefaultConnsPerPrincipal = 64
	// DefaultRequestsPerPrincipal bounds the requests of one principal in
	// progress at once (over all its connections, HTTP/2 streams included).
	DefaultRequestsPerPrincipal = 64
)

// ServerLimits bound what a client can hold of the runtime's API server.
// The zero value of every field means its default.
type ServerLimits struct {
	// Stall: a connection on which no byte moves for this long while the
	// runtime waits for a request's headers or body, or for the client to
	// take the response, is cut. It is a bound on silence, not on the
	// length of a transfer: a 1 GiB upload on a slow link takes as long
	// as it needs as long as bytes keep coming. The request headers must
	// also arrive within Stall, and the TLS handshake within Stall.
	// Default DefaultStall.
	Stall time.Duration
	// Idle: a kept-alive connection with no request in progress is closed
	// after this long. Default DefaultIdle.
	Idle time.Duration
	// ConnsPerPrincipal: the open connections one principal (one client
	// certificate) may hold. A connection beyond it is answered 429
	// (limit-exceeded) on every request and closed. Default
	// DefaultConnsPerPrincipal.
	ConnsPerPrincipal int
	// RequestsPerPrincipal: the requests one principal may have in
	// progress at once; one more is answered 429 (limit-exceeded) with
	// Retry-After rather than queued. Default DefaultRequestsPerPrincipal.
	RequestsPerPrincipal int
}

// withDefaults fills in the zero fields and refuses negative ones.
func (l ServerLimits) withDefaults() (ServerLimits, error) {
	if l.Stall < 0 || l.Idle < 0 || l.ConnsPerPrincipal < 0 || l.RequestsPerPrincipal < 0 {
		return l, fmt.Errorf("server limits %+v: none may be negative; zero means the default", l)
	}
	if l.Stall == 0 {
		l.Stall = DefaultStall
	}
	if l.Idle == 0 {
		l.Idle = DefaultIdle
	}
	if l.ConnsPerPrincipal == 0 {
		l.ConnsPerPrincipal = DefaultConnsPerPrincipal
	}
	if l.RequestsPerPrincipal == 0 {
		l.RequestsPerPrincipal = DefaultRequestsPerPrincipal
	}
	return l, nil
}

// ErrTooManyConnections: a principal opened more connections than
// ServerLimits.ConnsPerPrincipal allows.
var ErrTooManyConnections = errors.New("too many connections from one principal")

// clientKey names a principal by its certificate (the policy names each
// principal by its certificate's exact bytes).
type clientKey [32]byte

func keyOf(der []byte) clientKey { return sha256.Sum256(der) }

// counter counts what each principal holds: connections or requests.
type counter struct {
	mu sync.Mutex
	n  map[clientKey]int
}

// take adds one to k's count unless it is already max, and reports
// whether it did.
func (c *counter) take(k clientKey, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[clientKey]int{}
	}
	if c.n[k] >= max {
		return false
	}
	c.n[k]++
	return true
}

func (c *counter) put(k clientKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[k]--; c.n[k] <= 0 {
		delete(c.n, k)
	}
}

// count returns k's count.
func (c *counter) count(k clientKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

// limitedListener wraps every accepted connection in a limitedConn.
type limitedListener struct {
	net.Listener
	stall time.Duration
}

func (l *limitedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitedConn{Conn: c, stall: l.stall}
	// A connection is counted against its principal only once its
	// handshake has finished (the client has proved it holds the key):
	// until then it holds no principal's place, and one that does not
	// reach its first request within stall is closed.
	lc.pending = time.AfterFunc(l.stall, func() {
		if !lc.admitted() {
			lc.Close()
		}
	})
	return lc, nil
}

// limitedConn is one client connection under the runtime's TLS. Every
// write must make progress within stall (the deadline moves with each
// write, so a long transfer is fine while bytes move), whatever deadline
// the HTTP server set. It also holds the connection's place in its
// principal's count, given back when it closes.
type limitedConn struct {
	net.Conn
	stall time.Duration

	mu       sync.Mutex
	deadline time.Time // the write deadline the server set, zero for none
	release  func()    // gives the principal's slot back; nil if none
	over     error     // non-nil: the principal had no slot left
	closed   bool
	timer    *time.Timer // closes a connection over its principal's bound
	pending  *time.Timer // closes a connection that is never admitted
}

// admitted reports whether the connection has been counted (or marked
// over its principal's bound).
func (c *limitedConn) admitted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.release != nil || c.over != nil
}

func (c *limitedConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

func (c *limitedConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *limitedConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	d := time.Now().Add(c.stall)
	if !c.deadline.IsZero() && c.deadline.Before(d) {
		d = c.deadline
	}
	c.mu.Unlock()
	if err := c.Conn.SetWriteDeadline(d); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *limitedConn) Close() error {
	c.mu.Lock()
	rel := c.release
	c.release = nil
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.pending != nil {
		c.pending.Stop()
	}
	c.mu.Unlock()
	if rel != nil {
		rel()
	}
	return c.Conn.Close()
}

// admit counts the connection against the principal of cert; it is
// called with a request's verified peer certificate, after the TLS
// handshake has checked that the client holds the certificate's key (the
// certificate alone is public: it is in the policy). A
// connection beyond the principal's bound is not refused in the
// handshake (the client would read a certificate alert and think its
// identity refused); it is marked, its requests are answered 429, and it
// is closed after stall whatever it does.
func (c *limitedConn) admit(conns *counter, cert []byte, max int) {
	k := keyOf(cert)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.release != nil || c.over != nil {
		return
	}
	if c.pending != nil {
		c.pending.Stop()
	}
	if !conns.take(k, max) {
		c.over = fmt.Errorf("%w: this principal already holds %d connections to the enclave, the most one principal may: send requests over fewer connections, or close idle ones", ErrTooManyConnections, max)
		c.timer = time.AfterFunc(c.stall, func() { c.Close() })
		return
	}
	c.release = func() { conns.put(k) }
}

// refused returns why the connection may not carry requests, or nil.
func (c *limitedConn) refused() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over
}

type connKey struct{}

// connContext remembers the client connection in each request's context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// limitedConnOf returns the limitedConn a request came over, if any.
func limitedConnOf(req *http.Request) *limitedConn {
	c, _ := req.Context().Value(connKey{}).(net.Conn)
	for i := 0; i < 4 && c != nil; i++ {
		switch x := c.(type) {
		case *limitedConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// progressBody is a request body whose every read must bring bytes
// within stall: the read deadline moves with each read and is lifted at
// the end of the body, so a slow upload lives as long as bytes move and a
// silent one is cut. After a failed read the deadline stays passed, so
// the server's discarding of the rest fails at once too.
type progressBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	stall time.Duration
	state bodyState
}

type bodyState int

const (
	bodyOpen   bodyState = iota // not read to its end
	bodyEnded                   // read to its end
	bodyFailed                  // a read failed: cut short, stalled, or malformed
)

func (b *progressBody) Read(p []byte) (int, error) {
	if b.state != bodyOpen {
		return b.ReadCloser.Read(p)
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.stall)) // writers without deadlines (tests) keep none
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF):
		b.state = bodyEnded
		_ = b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		b.state = bodyFailed
	}
	return n, err
}

// settle sets the read deadline for what the server does with the rest
// of the body after the handler: discarding it must move within stall,
// and after a failed read it fails at once. It reports whether the body
// failed, in which case the connection must not carry another request.
func (b *progressBody) settle() (failed bool) {
	switch b.state {
	case bodyOpen:
		_ = b.rc.SetReadDeadline(time.Now().Add(b.stall))
	case bodyFailed:
		_ = b.rc.SetReadDeadline(time.Now())
		return true
	}
	return false
}
