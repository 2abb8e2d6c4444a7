// Package control is the protocol between the host and the runtime it
// starts: newline-delimited JSON messages on the runtime's stdin (host to
// runtime) and stdout (runtime to host).
//
// The host is untrusted, so everything read here is untrusted input: lines
// are bounded, decoding never panics, and unknown fields are ignored. This
// package must never carry file contents or secrets, only attestation
// material that is public by design (evidence, CSR, certificate chain).
//
// Sequence: runtime→hello{platform, policy_hash}; host→attest{nonce};
// runtime→evidence{platform, evidence, csr}; host→certificate{chain};
// runtime→ready{listen, not_after}. Later attest messages renew the
// certificate and are answered by ready again. On a bad chain the runtime
// sends error and waits for another attest. After shutdown the runtime sends
// stopped and exits.
package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/truce-project/truce/attest"
)

// Message types.
const (
	TypeHello       = "hello"       // runtime→host: platform, policy hash
	TypeAttest      = "attest"      // host→runtime: nonce from the attestation service
	TypeEvidence    = "evidence"    // runtime→host: platform, evidence, CSR
	TypeCertificate = "certificate" // host→runtime: chain, leaf first
	TypeReady       = "ready"       // runtime→host: listen address, certificate expiry
	TypeError       = "error"       // either way: message
	TypeStopped     = "stopped"     // runtime→host: state wiped, exiting
)

// MaxLine is the longest message line accepted, newline excluded.
const MaxLine = 1 << 20

// ErrTooLong is returned by Receive for a line longer than MaxLine.
var ErrTooLong = errors.New("control message longer than 1 MiB")

// ErrMalformed is returned by Receive for a line that is not a JSON
// message object with a type.
var ErrMalformed = errors.New("malformed control message")

// Message is one line of the protocol. Which fields are set depends on Type.
type Message struct {
	Type       string    `json:"type"`
	Platform   string    `json:"platform,omitempty"`
	PolicyHash string    `json:"policy_hash,omitempty"` // hex
	Nonce      []byte    `json:"nonce,omitempty"`       // host→runtime "attest"
	Evidence   []byte    `json:"evidence,omitempty"`    // runtime→host "evidence"
	CSR        []byte    `json:"csr,omitempty"`         // DER
	Chain      [][]byte  `json:"chain,omitempty"`       // host→runtime "certificate": DER, leaf first
	Listen     string    `json:"listen,omitempty"`      // runtime→host "ready"
	NotAfter   time.Time `json:"not_after,omitzero"`
	Message    string    `json:"message,omitempty"` // "error"
	// Verdict is, in an "error" message, the structured refusal of an
	// attestation (the runtime's check of its certificate chain, or the
	// attestation service's of the evidence); nil otherwise. Like every
	// field it comes from an untrusted peer: it is for logs and people.
	Verdict *attest.Verdict `json:"verdict,omitempty"`
}

// Conn reads and writes messages. Send is safe for concurrent use; Receive
// must be called from one goroutine at a time.
type Conn struct {
	r   *bufio.Reader
	wmu sync.Mutex
	w   io.Writer
}

// NewConn returns a Conn reading from r and writing to w.
func NewConn(r io.Reader, w io.Writer) *Conn {
	return &Conn{r: bufio.NewReaderSize(r, 64<<10), w: w}
}

// Send writes m as one line.
func (c *Conn) Send(m Message) error {
	if m.Type == "" {
		return fmt.Errorf("sending control message: no type")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encoding control message %q: %w", m.Type, err)
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.w.Write(b); err != nil {
		return fmt.Errorf("sending control message %q: %w", m.Type, err)
	}
	return nil
}

// Receive reads the next message. It returns io.EOF at a clean end of
// input, ErrTooLong for an over-long line (the rest of that line is
// skipped, so the next Receive reads the following message) and
// ErrMalformed (wrapped) for a line that does not decode. Blank lines are
// skipped.
func (c *Conn) Receive() (Message, error) {
	for {
		line, err := c.readLine()
		if err != nil {
			return Message{}, err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		return Decode(line)
	}
}

// Decode parses one message line.
func Decode(line []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return Message{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m.Type == "" {
		return Message{}, fmt.Errorf("%w: no \"type\"", ErrMalformed)
	}
	return m, nil
}

func (c *Conn) readLine() ([]byte, error) {
	var buf []byte
	tooLong := false
	for {
		frag, err := c.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(frag) > MaxLine+1 {
				tooLong = true
				buf = nil
			} else {
				buf = append(buf, frag...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, ErrTooLong
			}
			return buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if tooLong {
				return nil, ErrTooLong
			}
			if len(buf) > 0 {
				return buf, nil
			}
			return nil, io.EOF
		default:
			return nil, fmt.Errorf("reading control message: %w", err)
		}
	}
}
