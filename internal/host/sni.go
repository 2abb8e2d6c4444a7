package host

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// TLS record and handshake constants needed to read a ClientHello.
const (
	recordHandshake   = 22
	handshakeClient   = 1
	extServerName     = 0
	recordHeaderLen   = 5
	maxRecordPayload  = 16384 + 256 // plaintext bound, with slack for old stacks
	maxClientHelloLen = 64 << 10    // reassembled ClientHello bound
)

// ErrNotTLS is returned by PeekServerName for bytes that do not start a
// TLS connection with a ClientHello.
var ErrNotTLS = errors.New("connection does not start with a TLS ClientHello")

// PeekServerName reads from r the records that carry a TLS ClientHello and
// returns the server name it asks for ("" when it sends none) and every
// byte read, which the caller must pass on unchanged. It reads at most the
// ClientHello's records and never more than about 64 KiB; it never
// terminates or alters the TLS connection.
func PeekServerName(r io.Reader) (name string, prefix []byte, err error) {
	var msg []byte // handshake bytes reassembled from records
	need := -1     // length of the ClientHello message with its header, once known
	for need < 0 || len(msg) < need {
		var hdr [recordHeaderLen]byte
		if k, err := io.ReadFull(r, hdr[:]); err != nil {
			return "", append(prefix, hdr[:k]...), fmt.Errorf("%w: reading record header: %v", ErrNotTLS, err)
		}
		prefix = append(prefix, hdr[:]...)
		if hdr[0] != recordHandshake || hdr[1] != 3 {
			return "", prefix, fmt.Errorf("%w: record type %d version %d.%d", ErrNotTLS, hdr[0], hdr[1], hdr[2])
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		if n == 0 || n > maxRecordPayload {
			return "", prefix, fmt.Errorf("%w: record length %d", ErrNotTLS, n)
		}
		if len(prefix)+n > maxClientHelloLen+8*recordHeaderLen {
			return "", prefix, fmt.Errorf("%w: ClientHello longer than %d bytes", ErrNotTLS, maxClientHelloLen)
		}
		start := len(prefix)
		prefix = append(prefix, make([]byte, n)...)
		if k, err := io.ReadFull(r, prefix[start:]); err != nil {
			return "", prefix[:start+k], fmt.Errorf("%w: reading record: %v", ErrNotTLS, err)
		}
		msg = append(msg, prefix[start:]...)
		if need < 0 && len(msg) >= 4 {
			if msg[0] != handshakeClient {
				return "", prefix, fmt.Errorf("%w: first handshake message is type %d", ErrNotTLS, msg[0])
			}
			need = 4 + (int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3]))
			if need > maxClientHelloLen {
				return "", prefix, fmt.Errorf("%w: ClientHello of %d bytes", ErrNotTLS, need)
			}
		}
	}
	name, err = ParseClientHello(msg[4:need])
	return name, prefix, err
}

// ParseClientHello returns the host name of the server_name extension of
// a ClientHello body (after the 4-byte handshake header), or "" if it has
// none. The name is lower-cased and must be a plausible DNS name.
func ParseClientHello(b []byte) (string, error) {
	s := reader(b)
	var ok bool
	if _, ok = s.take(2 + 32); !ok { // legacy_version, random
		return "", fmt.Errorf("%w: truncated ClientHello", ErrNotTLS)
	}
	if _, ok = s.vec(1); !ok { // session id
		return "", fmt.Errorf("%w: truncated session id", ErrNotTLS)
	}
	if _, ok = s.vec(2); !ok { // cipher suites
		return "", fmt.Errorf("%w: truncated cipher suites", ErrNotTLS)
	}
	if _, ok = s.vec(1); !ok { // compression methods
		return "", fmt.Errorf("%w: truncated compression methods", ErrNotTLS)
	}
	if len(s) == 0 {
		return "", nil // no extensions
	}
	exts, ok := s.vec(2)
	if !ok {
		return "", fmt.Errorf("%w: truncated extensions", ErrNotTLS)
	}
	for len(exts) > 0 {
		typ, ok1 := exts.u16()
		body, ok2 := exts.vec(2)
		if !ok1 || !ok2 {
			return "", fmt.Errorf("%w: truncated extension", ErrNotTLS)
		}
		if typ != extServerName {
			continue
		}
		list, ok := body.vec(2)
		if !ok || len(body) != 0 {
			return "", fmt.Errorf("%w: malformed server_name extension", ErrNotTLS)
		}
		for len(list) > 0 {
			kind, ok1 := list.take(1)
			name, ok2 := list.vec(2)
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%w: malformed server_name entry", ErrNotTLS)
			}
			if kind[0] != 0 { // host_name
				continue
			}
			n := strings.ToLower(string(name))
			if !validHostName(n) {
				return "", fmt.Errorf("%w: server name %q is not a DNS name", ErrNotTLS, truncated(n))
			}
			return n, nil
		}
		return "", nil
	}
	return "", nil
}

func validHostName(n string) bool {
	if n == "" || len(n) > 253 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func truncated(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// reader reads TLS presentation-language fields; every method reports
// whether the bytes were there and never reads past the end.
type reader []byte

func (r *reader) take(n int) ([]byte, bool) {
	if n < 0 || len(*r) < n {
		return nil, false
	}
	b := (*r)[:n]
	*r = (*r)[n:]
	return b, true
}

func (r *reader) u16() (int, bool) {
	b, ok := r.take(2)
	if !ok {
		return 0, false
	}
	return int(b[0])<<8 | int(b[1]), true
}

// vec reads a vector with a lenBytes-byte length prefix.
func (r *reader) vec(lenBytes int) (reader, bool) {
	lb, ok := r.take(lenBytes)
	if !ok {
		return nil, false
	}
	n := 0
	for _, c := range lb {
		n = n<<8 | int(c)
	}
	b, ok := r.take(n)
	return reader(b), ok
}
