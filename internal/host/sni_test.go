package host

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// clientHello captures the first bytes a Go TLS client sends for sni.
func clientHello(t testing.TB, sni string) []byte {
	t.Helper()
	c, s := net.Pipe()
	go func() {
		tc := tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
		tc.SetDeadline(time.Now().Add(2 * time.Second))
		tc.Handshake()
		c.Close()
	}()
	var buf bytes.Buffer
	s.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 4096)
	for {
		n, err := s.Read(b)
		buf.Write(b[:n])
		if err != nil || buf.Len() >= 5 && buf.Len() >= 5+int(buf.Bytes()[3])<<8|int(buf.Bytes()[4]) {
			break
		}
	}
	s.Close()
	return buf.Bytes()
}

// split re-frames a single-record ClientHello into records of at most n
// payload bytes, as a TLS stack may.
func split(hello []byte, n int) []byte {
	payload := hello[5:]
	var out []byte
	for len(payload) > 0 {
		k := min(n, len(payload))
		out = append(out, 22, 3, 1, byte(k>>8), byte(k))
		out = append(out, payload[:k]...)
		payload = payload[k:]
	}
	return out
}

func TestPeekServerName(t *testing.T) {
	hello := clientHello(t, "0123456789abcdef.truce")
	ip := clientHello(t, "")
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{"go client", hello, "0123456789abcdef.truce", false},
		{"fragmented", split(hello, 100), "0123456789abcdef.truce", false},
		{"one byte records", split(hello, 1), "0123456789abcdef.truce", false},
		{"no sni", ip, "", false},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "", true},
		{"truncated", hello[:len(hello)/2], "", true},
		{"empty", nil, "", true},
		{"zero record", []byte{22, 3, 1, 0, 0}, "", true},
		{"huge record", []byte{22, 3, 1, 0xff, 0xff}, "", true},
		{"not client hello", []byte{22, 3, 1, 0, 4, 2, 0, 0, 0}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			trailer := []byte("after")
			r := bytes.NewReader(append(append([]byte(nil), tc.in...), trailer...))
			name, prefix, err := PeekServerName(r)
			if tc.wantErr {
				if !errors.Is(err, ErrNotTLS) {
					t.Fatalf("error %v, want ErrNotTLS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if name != tc.want {
				t.Fatalf("name %q, want %q", name, tc.want)
			}
			if !bytes.Equal(prefix, tc.in) {
				t.Fatalf("prefix is %d bytes, want the %d of the ClientHello exactly", len(prefix), len(tc.in))
			}
			rest, _ := io.ReadAll(r)
			if !bytes.Equal(rest, trailer) {
				t.Fatalf("read past the ClientHello: left %q", rest)
			}
		})
	}
}

func TestParseClientHelloRejectsBadNames(t *testing.T) {
	hello := clientHello(t, "abcdefgh.truce")
	i := bytes.Index(hello, []byte("abcdefgh"))
	bad := append([]byte(nil), hello...)
	bad[i] = '/'
	if _, _, err := PeekServerName(bytes.NewReader(bad)); !errors.Is(err, ErrNotTLS) {
		t.Fatalf("error %v for a name with '/'", err)
	}
	upper := append([]byte(nil), hello...)
	copy(upper[i:], "ABCDEFGH")
	if name, _, err := PeekServerName(bytes.NewReader(upper)); err != nil || name != "abcdefgh.truce" {
		t.Fatalf("upper case name: %q %v", name, err)
	}
}

func FuzzPeekServerName(f *testing.F) {
	f.Add(clientHello(f, "0123456789abcdef.truce"))
	f.Add(split(clientHello(f, "x.truce"), 7))
	f.Add(clientHello(f, ""))
	f.Add([]byte{22, 3, 1, 0, 4, 1, 0, 0, 0})
	f.Add([]byte{22, 3, 3, 0, 6, 1, 0, 0, 2, 3, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, prefix, err := PeekServerName(bytes.NewReader(b))
		if len(prefix) > len(b) || !bytes.Equal(prefix, b[:len(prefix)]) {
			t.Fatalf("prefix is not what was read")
		}
		if err == nil && name != "" && !validHostName(name) {
			t.Fatalf("invalid name %q accepted", name)
		}
		if len(prefix) > maxClientHelloLen+16*recordHeaderLen+maxRecordPayload {
			t.Fatalf("read %d bytes", len(prefix))
		}
	})
}
