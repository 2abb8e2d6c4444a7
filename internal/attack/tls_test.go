package attack

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/control"
)

// get sends GET /v1/policy over c and returns the status, or the error
// that ended the exchange.
func get(c *tls.Conn) (int, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /v1/policy HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestTLSAudit checks the enclave's TLS as an auditor would, through the
// real host: TLS 1.3 only; a client certificate of one of the policy's
// principals required (none, an unknown one, or one from another policy
// with the same name is refused before any request is served).
func TestTLSAudit(t *testing.T) {
	w := startWorld(t, worldOptions{})
	dial := func(cfg *tls.Config) (*tls.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.addr, cfg)
	}

	t.Run("TLS 1.2 refused", func(t *testing.T) {
		cfg := w.tlsConfig("alice")
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS10, tls.VersionTLS12
		if c, err := dial(cfg); err == nil {
			c.Close()
			t.Fatal("the enclave accepted TLS 1.2")
		} else {
			t.Logf("TLS 1.2: %v", err)
		}
	})
	t.Run("TLS 1.3 with a principal's certificate", func(t *testing.T) {
		c, err := dial(w.tlsConfig("alice"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if st := c.ConnectionState(); st.Version != tls.VersionTLS13 {
			t.Fatalf("version %x", st.Version)
		}
		if code, err := get(c); err != nil || code != 200 {
			t.Fatalf("%d %v", code, err)
		}
	})
	stranger, _ := identity.New("alice", 0, time.Time{}, nil)
	refused := map[string]func(*tls.Config){
		"no client certificate": func(cfg *tls.Config) { cfg.Certificates = nil },
		"unknown certificate with a principal's name": func(cfg *tls.Config) {
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{stranger.Cert.Raw}, PrivateKey: stranger.Key}}
		},
		"a principal's certificate with another key": func(cfg *tls.Config) {
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{w.ids["alice"].Cert.Raw}, PrivateKey: stranger.Key}}
		},
	}
	for name, change := range refused {
		t.Run(name, func(t *testing.T) {
			cfg := w.tlsConfig("alice")
			change(cfg)
			c, err := dial(cfg)
			if err != nil {
				t.Logf("refused in the handshake: %v", err)
				return
			}
			defer c.Close()
			code, err := get(c)
			if err == nil {
				t.Fatalf("served with status %d", code)
			}
			t.Logf("refused: %v", err)
		})
	}
	w.works(t, "after the refused handshakes")
}

// TestNoResumptionAcrossPolicies: a session ticket an enclave issued is
// useless to another enclave (another policy) on the same host: offering
// it there gives a full handshake, with the enclave checked anew.
func TestNoResumptionAcrossPolicies(t *testing.T) {
	ps := startPAS(t)
	a := newWorld(t, ps, worldOptions{name: "first"})
	b := newWorld(t, ps, worldOptions{name: "second"})
	a.serve(t)
	b.serve(t)
	cache := &stealingCache{inner: tls.NewLRUClientSessionCache(8)}
	cfgA := a.tlsConfig("alice")
	cfgA.ClientSessionCache = cache
	// Two connections to A: the second may resume within A.
	resumedA := false
	for i := 0; i < 2; i++ {
		c, err := tls.Dial("tcp", a.addr, cfgA)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := get(c); err != nil { // reads the ticket, too
			t.Fatal(err)
		}
		resumedA = resumedA || c.ConnectionState().DidResume
		c.Close()
	}
	t.Logf("resumed within the same enclave: %v", resumedA)
	if cache.last == nil {
		t.Skip("the enclave issued no session ticket: nothing to resume anywhere")
	}
	// Offer A's ticket to B, whatever name B's connection uses.
	cache.steal = true
	cfgB := b.tlsConfig("alice")
	cfgB.ClientSessionCache = cache
	c, err := tls.Dial("tcp", b.addr, cfgB)
	if err != nil {
		t.Fatalf("B with A's ticket offered: %v", err)
	}
	defer c.Close()
	if c.ConnectionState().DidResume {
		t.Fatal("the enclave of another policy resumed a session of the first")
	}
	if code, err := get(c); err != nil || code != 200 {
		t.Fatalf("%d %v", code, err)
	}
}

// stealingCache is a client session cache that, once steal is set, offers
// the last session it stored for every server.
type stealingCache struct {
	inner tls.ClientSessionCache
	last  *tls.ClientSessionState
	steal bool
}

func (s *stealingCache) Get(key string) (*tls.ClientSessionState, bool) {
	if s.steal && s.last != nil {
		return s.last, true
	}
	return s.inner.Get(key)
}

func (s *stealingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		s.last = cs
	}
	s.inner.Put(key, cs)
}

// TestControlProtocolCarriesNoKey: everything the runtime tells the host
// goes through control.Message. Its fields are public values only
// (evidence, a certificate request, certificates, addresses, times); a
// field added later fails this test until it is reviewed, so that no
// private key can leave the runtime process through the host.
func TestControlProtocolCarriesNoKey(t *testing.T) {
	var names []string
	typ := reflect.TypeOf(control.Message{})
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		names = append(names, f.Name+":"+f.Type.String())
		if strings.Contains(strings.ToLower(f.Name), "key") || strings.Contains(f.Type.String(), "Private") {
			t.Errorf("control.Message.%s may carry a key", f.Name)
		}
	}
	sort.Strings(names)
	// Verdict: reviewed; it names a rule and the public values of the
	// evidence or certificate that failed it (measurements, TCB versions,
	// certificate names and dates, collateral dates), never key material.
	want := "CSR:[]uint8 Chain:[][]uint8 Evidence:[]uint8 Listen:string Message:string Nonce:[]uint8 NotAfter:time.Time Platform:string PolicyHash:string Type:string Verdict:*attest.Verdict"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("control.Message changed; review that no secret can travel in it, then update this test:\n got %s\nwant %s", got, want)
	}
}
