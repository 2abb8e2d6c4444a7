package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/client"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/internal/trucetest"
)

// store is a minimal enclave API over a map, enough to test the SDK's
// side of the protocol.
type store struct {
	mu     sync.Mutex
	files  map[string][]byte
	policy []byte
	badSum bool
	att    *api.Attestation
	chain  *api.PolicyChain
}

func problem(w http.ResponseWriter, status int, name, detail string) {
	w.Header().Set("Content-Type", api.ContentTypeProblem)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemBase + name, Title: name, Status: status, Detail: detail})
}

func (s *store) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == api.PathPolicy:
		w.Write(s.policy)
	case r.URL.Path == api.PathAttestation:
		json.NewEncoder(w).Encode(s.att)
	case r.URL.Path == api.PathPolicyChain && s.chain != nil:
		json.NewEncoder(w).Encode(s.chain)
	case strings.HasPrefix(r.URL.Path, api.PathFiles):
		p := "/" + strings.TrimPrefix(r.URL.Path, api.PathFiles)
		if strings.HasPrefix(p, "/secret") {
			problem(w, 403, api.ProblemForbidden, "no right on "+p)
			return
		}
		switch r.Method {
		case http.MethodGet:
			b, ok := s.files[p]
			if !ok {
				problem(w, 404, api.ProblemNotFound, p)
				return
			}
			sum := sha256.Sum256(b)
			if s.badSum {
				sum[0] ^= 1
			}
			w.Header().Set(api.HeaderSHA256, hex.EncodeToString(sum[:]))
			w.Write(b)
		case http.MethodPut, http.MethodPost:
			b, _ := io.ReadAll(r.Body)
			if r.Method == http.MethodPost {
				b = append(s.files[p], b...)
			}
			s.files[p] = b
			sum := sha256.Sum256(b)
			json.NewEncoder(w).Encode(api.FileResult{Path: p, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
		}
	case strings.HasPrefix(r.URL.Path, api.PathRun):
		w.Header().Set("Content-Type", api.ContentTypeProblem)
		w.WriteHeader(422)
		json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemBase + api.ProblemProgramFailed, Title: "program failed", Status: 422,
			Result: &api.RunResult{Program: "/p.wasm", ExitCode: 3, Outcome: "exited"}})
	default:
		problem(w, 404, api.ProblemNotFound, r.URL.Path)
	}
}

func setup(t *testing.T, measurement []byte) (*trucetest.World, *trucetest.FakeEnclave, *store) {
	w := trucetest.NewWorld(t, trucetest.WorldOptions{Principals: map[string]map[string]string{"alice": {"/": "rwa"}, "mallory": {"/x": "r"}}})
	s := &store{files: map[string][]byte{}, policy: w.Policy.Bytes()}
	fe := w.ServeFakeEnclave(t, measurement, s)
	return w, fe, s
}

func TestRoundTrip(t *testing.T) {
	w, fe, _ := setup(t, nil)
	ctx := context.Background()
	s, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(fe.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	enc, chain := s.Enclave()
	if enc == nil || !bytes.Equal(enc.Measurement, w.Measurement) || len(chain) != 2 {
		t.Fatalf("enclave identity = %+v, chain %d", enc, len(chain))
	}
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	fi, err := s.Put(ctx, "/input/a.dat", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size != int64(len(data)) {
		t.Fatalf("size %d", fi.Size)
	}
	if _, err := s.Append(ctx, "/input/a.dat", strings.NewReader("tail")); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := s.Get(ctx, "/input/a.dat", &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), append(data, "tail"...)) {
		t.Fatal("read back differs")
	}
}

func TestProblems(t *testing.T) {
	w, fe, st := setup(t, nil)
	ctx := context.Background()
	s, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(fe.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"forbidden", func() error { _, err := s.Put(ctx, "/secret/x", strings.NewReader("x")); return err }, client.ErrForbidden},
		{"not found", func() error { _, err := s.Get(ctx, "/nope", io.Discard); return err }, client.ErrNotFound},
		{"program failed", func() error {
			rr, err := s.Run(ctx, "/p.wasm")
			if rr == nil || rr.ExitCode != 3 {
				t.Errorf("run result %+v", rr)
			}
			return err
		}, client.ErrProgramFailed},
		{"integrity", func() error {
			st.mu.Lock()
			st.files["/f"], st.badSum = []byte("x"), true
			st.mu.Unlock()
			_, err := s.Get(ctx, "/f", io.Discard)
			return err
		}, client.ErrIntegrity},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if client.Hint(err) == "" && tc.want != client.ErrIntegrity {
				t.Errorf("no hint for %v", err)
			}
		})
	}
	var pe *client.ProblemError
	_, err = s.Get(ctx, "/nope", io.Discard)
	if !errors.As(err, &pe) || pe.Status != 404 || pe.Name != api.ProblemNotFound {
		t.Fatalf("problem %#v", pe)
	}
}

// countingDialer records the size of every write a client makes: the
// first is the ClientHello; anything the client sends after checking the
// server (its certificate, a request) would be a large later write.
type countingDialer struct {
	mu     sync.Mutex
	writes []int
}

type countConn struct {
	net.Conn
	d *countingDialer
}

func (c countConn) Write(b []byte) (int, error) {
	c.d.mu.Lock()
	c.d.writes = append(c.d.writes, len(b))
	c.d.mu.Unlock()
	return c.Conn.Write(b)
}

func (d *countingDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return countConn{c, d}, nil
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("untrusted measurement sends nothing", func(t *testing.T) {
		other := make([]byte, 32)
		rand.Read(other)
		w, fe, _ := setup(t, other)
		var d countingDialer
		_, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(fe.Addr), client.WithDialer(d.dial))
		if !errors.Is(err, attest.ErrUntrustedMeasurement) {
			t.Fatalf("error %v, want ErrUntrustedMeasurement", err)
		}
		if n := fe.Requests.Load(); n != 0 {
			t.Fatalf("%d requests reached the enclave", n)
		}
		// After the ClientHello the client may only send an alert (an
		// encrypted alert record is 24 bytes); its certificate flight
		// alone would be hundreds of bytes, a request more.
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.writes) == 0 {
			t.Fatal("the client never dialed")
		}
		for _, n := range d.writes[1:] {
			if n > 64 {
				t.Fatalf("client wrote %v bytes to an untrusted enclave after its ClientHello", d.writes)
			}
		}
	})
	t.Run("expired certificate", func(t *testing.T) {
		w, fe, _ := setup(t, nil)
		late := func() time.Time { return time.Now().Add(2 * time.Hour) }
		_, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(fe.Addr), client.WithClock(late))
		if !errors.Is(err, attest.ErrBadChain) {
			t.Fatalf("error %v, want ErrBadChain", err)
		}
	})
	t.Run("expired policy", func(t *testing.T) {
		w, fe, _ := setup(t, nil)
		late := func() time.Time { return time.Now().Add(48 * time.Hour) }
		_, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(fe.Addr), client.WithClock(late))
		if !errors.Is(err, client.ErrPolicyExpired) {
			t.Fatalf("error %v, want ErrPolicyExpired", err)
		}
	})
	t.Run("other policy", func(t *testing.T) {
		w, fe, st := setup(t, nil)
		st.policy = append([]byte(nil), st.policy...)
		st.policy[len(st.policy)-1] ^= 1
		_, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(fe.Addr))
		if !errors.Is(err, client.ErrPolicyMismatch) {
			t.Fatalf("error %v, want ErrPolicyMismatch", err)
		}
	})
	t.Run("unknown client", func(t *testing.T) {
		w, fe, _ := setup(t, nil)
		stranger := trucetest.NewWorld(t, trucetest.WorldOptions{}).IDs["alice"]
		_, err := client.Dial(ctx, w.Policy, stranger, client.WithAddr(fe.Addr))
		if !errors.Is(err, client.ErrUnauthenticated) || fe.Requests.Load() != 0 {
			t.Fatalf("stranger dialed: %v", err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		w := trucetest.NewWorld(t, trucetest.WorldOptions{})
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		_, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(addr))
		if !errors.Is(err, client.ErrUnreachable) {
			t.Fatalf("error %v, want ErrUnreachable", err)
		}
	})
}

func TestVerifyEvidence(t *testing.T) {
	w, fe, st := setup(t, nil)
	ctx := context.Background()
	s, err := client.Dial(ctx, w.Policy, w.IDs["alice"], client.WithAddr(fe.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, chain := s.Enclave()
	dev, err := simprovider.NewDevice(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("0123456789abcdef0123456789abcdef")
	evidence := func(m []byte, n []byte) []byte {
		rd := attest.ReportData(chain[0].RawSubjectPublicKeyInfo, w.Policy.Hash(), n)
		ev, err := simprovider.NewProvider(dev, m).Evidence(ctx, rd)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	other := make([]byte, 32)
	rand.Read(other)
	leaf := [][]byte{chain[0].Raw}
	tests := []struct {
		name string
		att  api.Attestation
		want error
	}{
		{"good", api.Attestation{Platform: "sim", Evidence: evidence(w.Measurement, nonce), Chain: leaf, Nonce: nonce}, nil},
		{"other nonce", api.Attestation{Platform: "sim", Evidence: evidence(w.Measurement, nonce), Chain: leaf, Nonce: []byte("another nonce")}, attest.ErrBinding},
		{"other measurement", api.Attestation{Platform: "sim", Evidence: evidence(other, nonce), Chain: leaf, Nonce: nonce}, attest.ErrUntrustedMeasurement},
		{"other certificate", api.Attestation{Platform: "sim", Evidence: evidence(w.Measurement, nonce), Chain: [][]byte{w.CA.Cert.Raw}, Nonce: nonce}, attest.ErrBinding},
		{"garbage", api.Attestation{Platform: "sim", Evidence: []byte("not a token"), Chain: leaf, Nonce: nonce}, attest.ErrBadEvidence},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st.mu.Lock()
			a := tc.att
			st.att = &a
			st.mu.Unlock()
			claims, err := s.VerifyEvidence(ctx, sim.NewVerifier(dev.Public()))
			if tc.want == nil {
				if err != nil || !bytes.Equal(claims.Measurement, w.Measurement) {
					t.Fatalf("claims %+v, %v", claims, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			// Refusals of the evidence itself say which claim failed.
			var v *attest.Verdict
			if !errors.As(err, &v) || v.Expected == "" || v.Actual == "" {
				t.Fatalf("error %v is not a verdict", err)
			}
		})
	}
}
