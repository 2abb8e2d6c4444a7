package nitro_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/nitro"
	"github.com/truce-project/truce/attest/nitro/nitrotest"
)

// realAt is inside the validity of the real document's leaf certificate
// (2024-09-17T15:36:11Z – 18:36:14Z).
var realAt = time.Date(2024, 9, 17, 17, 0, 0, 0, time.UTC)

func realDoc(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/attestation.cbor")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRealDocument(t *testing.T) {
	c, err := nitro.Verifier{}.Verify(realDoc(t), attest.VerifyOptions{Now: realAt, AllowDebug: true})
	if err != nil {
		t.Fatalf("real document: %v", err)
	}
	if c.Platform != "nitro" || c.Simulated {
		t.Errorf("platform %q simulated %v", c.Platform, c.Simulated)
	}
	if !bytes.Equal(c.Measurement, make([]byte, 48)) {
		t.Errorf("PCR0 %x, want zero (debug enclave)", c.Measurement)
	}
	const pcr3 = "671ca1e328f75015b2aeee60639cc5252bc835d8bb690444d1f8e2bf4260f73dc1b71e07a14a770c7d0becac6eb3b53f"
	if got := hex.EncodeToString(c.Extra["pcr3"]); got != pcr3 {
		t.Errorf("pcr3 %s, want %s", got, pcr3)
	}
	for _, k := range []string{"pcr1", "pcr2", "pcr4", "pcr8"} {
		if len(c.Extra[k]) != 48 {
			t.Errorf("extra %s: %d bytes", k, len(c.Extra[k]))
		}
	}
	want := map[string]string{
		"module_id":  "i-0bbf1bfe232b8c2ce-enc01920092bd47cdd9",
		"nonce":      "0000000000000000000000000000000000000001",
		"public_key": hex.EncodeToString([]byte("dummy")),
		"debug":      "true",
		"timestamp":  "2024-09-17T15:36:14.133Z",
	}
	for k, v := range want {
		if c.Details[k] != v {
			t.Errorf("%s = %q, want %q", k, c.Details[k], v)
		}
	}
	if c.ReportData != ([64]byte{}) || !strings.HasPrefix(c.Details["report_data"], "none") {
		t.Errorf("report data %x (%s): the document carries no 64-byte user data", c.ReportData, c.Details["report_data"])
	}
	if got := hex.EncodeToString(nitro.Root().Raw); len(got) == 0 {
		t.Fatal("no root")
	}
}

func TestRealDocumentRefused(t *testing.T) {
	fake, err := nitrotest.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v    nitro.Verifier
		opts attest.VerifyOptions
		want error
	}{
		{"debug not allowed", nitro.Verifier{}, attest.VerifyOptions{Now: realAt}, nitro.ErrDebug},
		{"before the leaf is valid", nitro.Verifier{}, attest.VerifyOptions{Now: time.Date(2024, 9, 17, 15, 30, 0, 0, time.UTC), AllowDebug: true}, nitro.ErrChain},
		{"leaf expired", nitro.Verifier{}, attest.VerifyOptions{Now: time.Date(2024, 9, 17, 18, 37, 0, 0, time.UTC), AllowDebug: true}, nitro.ErrChain},
		{"now", nitro.Verifier{}, attest.VerifyOptions{AllowDebug: true}, nitro.ErrChain},
		{"wrong root", nitro.Verifier{Roots: fake.Roots()}, attest.VerifyOptions{Now: realAt, AllowDebug: true}, nitro.ErrChain},
		{"empty root pool", nitro.Verifier{Roots: x509.NewCertPool()}, attest.VerifyOptions{Now: realAt, AllowDebug: true}, nitro.ErrChain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(realDoc(t), tc.opts)
			if !errors.Is(err, tc.want) || !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// rawPayload keeps the PCR map's encoding, so that re-encoding an unchanged
// payload reproduces the signed bytes exactly.
type rawPayload struct {
	ModuleID    string          `cbor:"module_id"`
	Digest      string          `cbor:"digest"`
	Timestamp   uint64          `cbor:"timestamp"`
	PCRs        cbor.RawMessage `cbor:"pcrs"`
	Certificate []byte          `cbor:"certificate"`
	CABundle    [][]byte        `cbor:"cabundle"`
	PublicKey   []byte          `cbor:"public_key"`
	UserData    []byte          `cbor:"user_data"`
	Nonce       []byte          `cbor:"nonce"`
}

type sign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i%len(c)] ^= 0x01
	return c
}

func TestRealDocumentMutations(t *testing.T) {
	doc := realDoc(t)
	var msg sign1
	if err := cbor.Unmarshal(doc, &msg); err != nil {
		t.Fatal(err)
	}
	var p rawPayload
	if err := cbor.Unmarshal(msg.Payload, &p); err != nil {
		t.Fatal(err)
	}
	var pcrs map[uint][]byte
	if err := cbor.Unmarshal(p.PCRs, &pcrs); err != nil {
		t.Fatal(err)
	}
	encPCRs := func(m map[uint][]byte) cbor.RawMessage {
		b := []byte{0xa0 | byte(len(m))}
		for i := uint(0); i < uint(len(m)); i++ {
			b = append(b, byte(i), 0x58, 0x30)
			b = append(b, m[i]...)
		}
		return b
	}
	rebuild := func(t *testing.T, q rawPayload, m sign1) []byte {
		t.Helper()
		body, err := cbor.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		m.Payload = body
		out, err := cbor.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// The control: re-encoding the unchanged parts gives back the document,
	// so every failure below comes from the mutation alone.
	if !bytes.Equal(encPCRs(pcrs), p.PCRs) || !bytes.Equal(rebuild(t, p, msg), doc) {
		t.Fatal("re-encoding the real document does not reproduce it; the mutation test would prove nothing")
	}
	opts := attest.VerifyOptions{Now: realAt, AllowDebug: true}
	mut := map[string]func(q *rawPayload){
		"module_id":          func(q *rawPayload) { q.ModuleID += "x" },
		"digest":             func(q *rawPayload) { q.Digest = "SHA256" },
		"timestamp":          func(q *rawPayload) { q.Timestamp++ },
		"public_key":         func(q *rawPayload) { q.PublicKey = []byte("dummz") },
		"public_key removed": func(q *rawPayload) { q.PublicKey = nil },
		"user_data":          func(q *rawPayload) { q.UserData = flip(q.UserData, 40) },
		"nonce":              func(q *rawPayload) { q.Nonce = flip(q.Nonce, 19) },
		"nonce removed":      func(q *rawPayload) { q.Nonce = nil },
		"certificate":        func(q *rawPayload) { q.Certificate = flip(q.Certificate, len(q.Certificate)-10) },
		"cabundle shortened": func(q *rawPayload) { q.CABundle = q.CABundle[:len(q.CABundle)-1] },
		"cabundle reordered": func(q *rawPayload) {
			c := append([][]byte(nil), q.CABundle...)
			c[1], c[2] = c[2], c[1]
			q.CABundle = c
		},
	}
	for i := range p.CABundle {
		mut["cabundle["+string(rune('0'+i))+"]"] = func(q *rawPayload) {
			c := append([][]byte(nil), q.CABundle...)
			c[i] = flip(c[i], len(c[i])-5)
			q.CABundle = c
		}
	}
	for i := uint(0); i < uint(len(pcrs)); i++ {
		mut["pcr"+hex.EncodeToString([]byte{byte(i)})] = func(q *rawPayload) {
			m := map[uint][]byte{}
			for k, v := range pcrs {
				m[k] = v
			}
			m[i] = flip(m[i], 7)
			q.PCRs = encPCRs(m)
		}
	}
	for name, f := range mut {
		t.Run("payload "+name, func(t *testing.T) {
			q := p
			f(&q)
			_, err := nitro.Verifier{}.Verify(rebuild(t, q, msg), opts)
			if !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("mutated %s: got %v", name, err)
			}
		})
	}
	t.Run("signature", func(t *testing.T) {
		// Both ends of r and of s, and bytes between.
		for _, i := range []int{0, 1, 23, 46, 47, 48, 49, 71, 94, 95} {
			m := msg
			m.Signature = flip(msg.Signature, i)
			if _, err := (nitro.Verifier{}).Verify(rebuild(t, p, m), opts); !errors.Is(err, nitro.ErrSignature) {
				t.Fatalf("signature byte %d flipped: got %v", i, err)
			}
		}
		m := msg
		m.Signature = msg.Signature[:95]
		if _, err := (nitro.Verifier{}).Verify(rebuild(t, p, m), opts); !errors.Is(err, nitro.ErrSignature) {
			t.Fatalf("short signature: got %v", err)
		}
	})
	t.Run("protected header", func(t *testing.T) {
		for _, h := range []map[int]int{{1: -7}, {1: -36}, {1: -35, 4: 1}, {}} {
			m := msg
			m.Protected, _ = cbor.Marshal(h)
			if _, err := (nitro.Verifier{}).Verify(rebuild(t, p, m), opts); !errors.Is(err, nitro.ErrMalformed) {
				t.Fatalf("header %v: got %v", h, err)
			}
		}
	})
	t.Run("every byte", func(t *testing.T) {
		// Flipping any byte of the document must make it fail; stride
		// through it (a prime step, so every structure is hit somewhere)
		// to keep the run short; the last byte is covered too.
		for i := 0; i < len(doc)+53; i += 53 {
			i := min(i, len(doc)-1)
			if _, err := (nitro.Verifier{}).Verify(flip(doc, i), opts); err == nil {
				t.Fatalf("byte %d flipped: verified", i)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for n := 0; n < len(doc); n += 17 {
			if _, err := (nitro.Verifier{}).Verify(doc[:n], opts); !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("%d bytes: got %v", n, err)
			}
		}
	})
	t.Run("tagged", func(t *testing.T) {
		if _, err := (nitro.Verifier{}).Verify(append([]byte{0xd2}, doc...), opts); err != nil {
			t.Fatalf("with the COSE_Sign1 tag: %v", err)
		}
	})
}

func mustFake(t testing.TB) *nitrotest.NSM {
	t.Helper()
	f, err := nitrotest.New()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestChainMutations(t *testing.T) {
	fake := mustFake(t)
	rd := [64]byte{1, 2, 3}
	good := fake.Payload(rd[:], nil, []byte("spki"))
	v := nitro.Verifier{Roots: fake.Roots()}
	opts := attest.VerifyOptions{Now: nitrotest.Epoch}
	other, err := nitrotest.NewCA(nil, "truce test nitro root", nitrotest.Epoch.AddDate(-1, 0, 0), nitrotest.Epoch.AddDate(1, 0, 0), true)
	if err != nil {
		t.Fatal(err)
	}
	otherInter, err := nitrotest.NewCA(&other, "truce test nitro intermediate", nitrotest.Epoch.AddDate(-1, 0, 0), nitrotest.Epoch.AddDate(1, 0, 0), true)
	if err != nil {
		t.Fatal(err)
	}
	expiredInter, err := nitrotest.NewCA(&fake.Root, "truce test nitro intermediate", nitrotest.Epoch.AddDate(-2, 0, 0), nitrotest.Epoch.AddDate(0, 0, -1), true)
	if err != nil {
		t.Fatal(err)
	}
	leafOfExpired, err := nitrotest.NewCA(&expiredInter, "leaf", nitrotest.Epoch.Add(-time.Hour), nitrotest.Epoch.Add(time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	leafOfOther, err := nitrotest.NewCA(&otherInter, "leaf", nitrotest.Epoch.Add(-time.Hour), nitrotest.Epoch.Add(time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p256Leaf, err := nitrotest.NewCA(&fake.Intermediate, "leaf", nitrotest.Epoch.Add(-time.Hour), nitrotest.Epoch.Add(time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	_ = p256
	for _, tc := range []struct {
		name string
		edit func(p *nitrotest.Payload) *ecdsa.PrivateKey
		v    nitro.Verifier
		opts attest.VerifyOptions
		want error
	}{
		{"control", func(p *nitrotest.Payload) *ecdsa.PrivateKey { return nil }, v, opts, nil},
		{"AWS root", func(p *nitrotest.Payload) *ecdsa.PrivateKey { return nil }, nitro.Verifier{}, opts, nitro.ErrChain},
		{"leaf expired", func(p *nitrotest.Payload) *ecdsa.PrivateKey { return nil }, v, attest.VerifyOptions{Now: nitrotest.Epoch.Add(25 * time.Hour)}, nitro.ErrChain},
		{"leaf not yet valid", func(p *nitrotest.Payload) *ecdsa.PrivateKey { return nil }, v, attest.VerifyOptions{Now: nitrotest.Epoch.Add(-25 * time.Hour)}, nitro.ErrChain},
		{"intermediate missing", func(p *nitrotest.Payload) *ecdsa.PrivateKey { p.CABundle = p.CABundle[:1]; return nil }, v, opts, nitro.ErrChain},
		{"intermediate expired", func(p *nitrotest.Payload) *ecdsa.PrivateKey {
			p.Certificate, p.CABundle[1] = leafOfExpired.Cert.Raw, expiredInter.Cert.Raw
			return leafOfExpired.Key
		}, v, opts, nitro.ErrChain},
		{"chain to another root with the same names", func(p *nitrotest.Payload) *ecdsa.PrivateKey {
			p.Certificate, p.CABundle = leafOfOther.Cert.Raw, [][]byte{other.Cert.Raw, otherInter.Cert.Raw}
			return leafOfOther.Key
		}, v, opts, nitro.ErrChain},
		{"root in cabundle[0] is not trusted by itself", func(p *nitrotest.Payload) *ecdsa.PrivateKey {
			p.Certificate, p.CABundle = leafOfOther.Cert.Raw, [][]byte{other.Cert.Raw, otherInter.Cert.Raw}
			return leafOfOther.Key
		}, nitro.Verifier{}, opts, nitro.ErrChain},
		{"signed by the intermediate, not the leaf", func(p *nitrotest.Payload) *ecdsa.PrivateKey { return fake.Intermediate.Key }, v, opts, nitro.ErrSignature},
		{"signed by another leaf of the same CA", func(p *nitrotest.Payload) *ecdsa.PrivateKey { return p256Leaf.Key }, v, opts, nitro.ErrSignature},
		{"timestamp after the leaf expires", func(p *nitrotest.Payload) *ecdsa.PrivateKey {
			p.Timestamp = uint64(nitrotest.Epoch.Add(48 * time.Hour).UnixMilli())
			return nil
		}, v, opts, nitro.ErrMalformed},
		{"no certificate", func(p *nitrotest.Payload) *ecdsa.PrivateKey { p.Certificate = nil; return nil }, v, opts, nitro.ErrMalformed},
		{"PCR of 32 bytes", func(p *nitrotest.Payload) *ecdsa.PrivateKey { p.PCRs[5] = make([]byte, 32); return nil }, v, opts, nitro.ErrMalformed},
		{"PCR index 40", func(p *nitrotest.Payload) *ecdsa.PrivateKey { p.PCRs[40] = make([]byte, 48); return nil }, v, opts, nitro.ErrMalformed},
		{"no PCR0", func(p *nitrotest.Payload) *ecdsa.PrivateKey { delete(p.PCRs, 0); return nil }, v, opts, nitro.ErrMalformed},
		{"debug PCRs", func(p *nitrotest.Payload) *ecdsa.PrivateKey {
			for i := uint(0); i < 3; i++ {
				p.PCRs[i] = make([]byte, 48)
			}
			return nil
		}, v, opts, nitro.ErrDebug},
		{"user_data too long", func(p *nitrotest.Payload) *ecdsa.PrivateKey { p.UserData = make([]byte, 513); return nil }, v, opts, nitro.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fake.Payload(good.UserData, good.Nonce, good.PublicKey)
			p.CABundle = append([][]byte(nil), p.CABundle...)
			key := tc.edit(&p)
			doc, err := fake.Sign(p, key)
			if err != nil {
				t.Fatal(err)
			}
			c, err := tc.v.Verify(doc, tc.opts)
			if tc.want == nil {
				if err != nil || c.ReportData != rd {
					t.Fatalf("control: %v, report data %x", err, c.ReportData)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReportDataFromNonce(t *testing.T) {
	fake := mustFake(t)
	var rd [64]byte
	copy(rd[:], bytes.Repeat([]byte{7}, 64))
	doc, err := fake.Sign(fake.Payload(nil, rd[:], nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nitro.Verifier{Roots: fake.Roots()}.Verify(doc, attest.VerifyOptions{Now: nitrotest.Epoch})
	if err != nil || c.ReportData != rd || c.Details["report_data"] != "nonce" {
		t.Fatalf("%v %x %q", err, c.ReportData, c.Details["report_data"])
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(realDoc(f))
	fake := mustFake(f)
	doc, err := fake.Sign(fake.Payload(make([]byte, 64), nil, nil), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte{0x84, 0x40, 0xa0, 0x40, 0x40})
	v := nitro.Verifier{Roots: fake.Roots()}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := v.Verify(b, attest.VerifyOptions{Now: nitrotest.Epoch, AllowDebug: true})
		if err == nil && c == nil {
			t.Fatal("nil claims without error")
		}
		if err != nil && !errors.Is(err, attest.ErrBadEvidence) {
			t.Fatalf("error not ErrBadEvidence: %v", err)
		}
	})
}
