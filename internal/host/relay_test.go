package host_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
)

// TestRefusalBeforeBodyReachesClient: the enclave answers a request (here
// 413) before reading its large body and closes. The answer must reach
// the client: the relay must not reset the client's connection while the
// client is still sending, which would make the client's kernel drop the
// answer unread. Regression test: the relay used to close the client's
// connection as soon as a write to the enclave failed.
func TestRefusalBeforeBodyReachesClient(t *testing.T) {
	r := startWith(t, 0, func(pol []byte) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == "/v1/policy" {
				w.Write(pol)
				return
			}
			// Answer and close at once, without reading the body, as an
			// enclave refusing an oversized upload may.
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			buf.WriteString("HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			buf.Flush()
			conn.Close()
		})
	}, nil)
	r.waitReady(t)
	id := r.w.IDs["alice"]
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		ServerName:         r.w.Policy.ServerName(),
		Certificates:       []tls.Certificate{{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}},
		InsecureSkipVerify: true, // replaced by VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := attest.CheckEnclave(cs.PeerCertificates, r.w.Policy, time.Now())
			return err
		},
	}
	body := bytes.Repeat([]byte("x"), 16<<20)
	for i := 0; i < 5; i++ {
		c, err := tls.Dial("tcp", r.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			fmt.Fprintf(c, "PUT /v1/files/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body))
			c.Write(body)
		}()
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		raw, rerr := io.ReadAll(c)
		c.Close()
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil {
			t.Fatalf("try %d: the refusal was lost: read %d bytes (%v): %v", i, len(raw), rerr, err)
		}
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("try %d: status %d", i, resp.StatusCode)
		}
	}
}
