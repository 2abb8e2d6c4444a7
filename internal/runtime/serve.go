package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/control"
)

// Listen opens the listener named by spec: "unix:PATH" (a Unix socket,
// created with mode 0600; an existing socket file there is replaced) or
// "tcp:ADDR" (host:port; port 0 picks a free one).
func Listen(spec string) (net.Listener, error) {
	kind, addr, ok := strings.Cut(spec, ":")
	if !ok || addr == "" {
		return nil, fmt.Errorf("listen address %q: write unix:PATH or tcp:HOST:PORT", spec)
	}
	switch kind {
	case "unix":
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(addr)
		}
		ln, err := net.Listen("unix", addr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", spec, err)
		}
		if err := os.Chmod(addr, 0o600); err != nil {
			ln.Close()
			return nil, fmt.Errorf("listening on %s: %w", spec, err)
		}
		return ln, nil
	case "tcp":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listening on %s: %w", spec, err)
		}
		return ln, nil
	}
	return nil, fmt.Errorf("listen address %q: the kind must be unix or tcp, as in unix:/run/truce.sock or tcp:127.0.0.1:0", spec)
}

// ListenSpec names a listener the way Listen reads it, as sent in the
// ready message.
func ListenSpec(ln net.Listener) string {
	a := ln.Addr()
	switch a.Network() {
	case "unix":
		return "unix:" + a.String()
	default:
		return "tcp:" + a.String()
	}
}

// GracePeriod is how long a shutdown waits for requests in flight.
const GracePeriod = 10 * time.Second

type received struct {
	m   control.Message
	err error
}

// Serve lives the runtime's life over the control connection: it says
// hello, answers each attest with evidence and a certificate request, and
// on the first accepted certificate starts serving the API on ln (TLS is
// done here) and says ready; later certificates renew it and are answered
// with ready again. A refused chain or a malformed message is answered with
// an error message, and the runtime waits for the next one.
//
// Serve returns after a principal asks for shutdown (nil), when ctx ends
// (nil: the host or the operating system asked it to stop), or when the
// host closes the control channel (ErrHostGone). Each time, it first stops
// serving, wipes the enclave's state and, if the channel is still open,
// sends stopped. Serve closes ln.
func (r *Runtime) Serve(ctx context.Context, conn *control.Conn, ln net.Listener) error {
	defer ln.Close()
	if err := conn.Send(control.Message{Type: control.TypeHello, Platform: r.Platform(), PolicyHash: r.genesis.HashHex()}); err != nil {
		r.Wipe()
		return err
	}
	msgs := make(chan received)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			m, err := conn.Receive()
			select {
			case msgs <- received{m, err}:
			case <-done:
				return
			}
			if err != nil && !errors.Is(err, control.ErrMalformed) && !errors.Is(err, control.ErrTooLong) {
				return
			}
		}
	}()

	var srv *http.Server
	serveErr := make(chan error, 1)
	listen := ListenSpec(ln)
	stop := func(tellHost bool) {
		if srv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), GracePeriod)
			if err := srv.Shutdown(sctx); err != nil {
				_ = srv.Close()
			}
			cancel()
		}
		r.Wipe()
		r.log.Info("state wiped")
		if tellHost {
			_ = conn.Send(control.Message{Type: control.TypeStopped})
		}
	}
	sendErr := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		r.log.Warn("control", "error", msg)
		m := control.Message{Type: control.TypeError, Message: msg}
		for _, x := range a {
			if err, ok := x.(error); ok {
				errors.As(err, &m.Verdict)
			}
		}
		_ = conn.Send(m)
	}

	for {
		select {
		case <-ctx.Done():
			stop(true)
			return nil
		case <-r.shutdown:
			stop(true)
			return nil
		case err := <-serveErr:
			sendErr("serving the API: %v", err)
			stop(true)
			return fmt.Errorf("serving the API: %w", err)
		case in := <-msgs:
			if in.err != nil {
				if errors.Is(in.err, control.ErrMalformed) || errors.Is(in.err, control.ErrTooLong) {
					sendErr("%v", in.err)
					continue
				}
				stop(false)
				if errors.Is(in.err, io.EOF) {
					return ErrHostGone
				}
				return fmt.Errorf("%w: %w", ErrHostGone, in.err)
			}
			switch in.m.Type {
			case control.TypeAttest:
				ev, csr, err := r.Attest(ctx, in.m.Nonce)
				if err != nil {
					sendErr("attest: %v", err)
					continue
				}
				if err := conn.Send(control.Message{Type: control.TypeEvidence, Platform: r.Platform(), Evidence: ev, CSR: csr}); err != nil {
					stop(false)
					return fmt.Errorf("%w: %w", ErrHostGone, err)
				}
			case control.TypeCertificate:
				notAfter, err := r.SetCertificate(in.m.Chain)
				if err != nil {
					sendErr("certificate: %v", err)
					continue
				}
				if srv == nil {
					srv = r.newServer()
					go func() {
						err := srv.ServeTLS(&limitedListener{Listener: ln, stall: r.srvLim.Stall}, "", "")
						if err != nil && !errors.Is(err, http.ErrServerClosed) {
							serveErr <- err
						}
					}()
					r.log.Info("serving", "listen", listen, "not_after", notAfter)
				} else {
					r.log.Info("certificate renewed", "not_after", notAfter)
				}
				if err := conn.Send(control.Message{Type: control.TypeReady, Listen: listen, NotAfter: notAfter}); err != nil {
					stop(false)
					return fmt.Errorf("%w: %w", ErrHostGone, err)
				}
			case control.TypeError:
				r.log.Warn("host reported an error", "message", in.m.Message)
			default:
				sendErr("unexpected message type %q: the host sends attest or certificate", in.m.Type)
			}
		}
	}
}

// newServer makes the API server with the runtime's ServerLimits: the
// request headers (and the TLS handshake) must arrive within Stall, a
// kept-alive connection is closed after Idle, and every read of a body and
// every write of a response must make progress within Stall (serveHTTP and
// limitedConn; there is no bound on a whole transfer, so a large upload on
// a slow link works). HTTP/2 streams per connection are bounded by
// RequestsPerPrincipal.
func (r *Runtime) newServer() *http.Server {
	lim := r.srvLim
	srv := &http.Server{
		Handler:           r.Handler(),
		TLSConfig:         r.TLSConfig(),
		ReadHeaderTimeout: lim.Stall,
		IdleTimeout:       lim.Idle,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       connContext,
		// "OPTIONS *" goes to the API as any request does (a problem,
		// audited), not to net/http's answer for it.
		DisableGeneralOptionsHandler: true,
		ErrorLog:                     slog.NewLogLogger(r.log.Handler(), slog.LevelDebug),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: lim.RequestsPerPrincipal,
			WriteByteTimeout:     lim.Stall,
		},
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetHTTP2(true)
	return srv
}
