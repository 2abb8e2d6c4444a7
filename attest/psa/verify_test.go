package psa_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/psa"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tfmPub(t testing.TB) []byte { return read(t, "tfm-iak-pub.pem") }

// tfmKey is TF-M's published initial attestation test key.
func tfmKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	blk, _ := pem.Decode(read(t, "tfm-iak-key.pem"))
	k, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTFMTokens(t *testing.T) {
	for _, tc := range []struct{ file, profile string }{
		{"tfm-p2-sign1.cbor", "http://arm.com/psa/2.0.0"},
		{"tfm-p1-sign1.cbor", "PSA_IOT_PROFILE_1"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := psa.Verifier{}.Verify(read(t, tc.file), attest.VerifyOptions{Key: tfmPub(t)})
			if err != nil {
				t.Fatal(err)
			}
			// The last component, NSPE 0.0.0, holds the measurement.
			if got := hex.EncodeToString(c.Measurement); got != "087d13c68f32aaafb8c4fc0a2253445432009765e216fb85c398c9580522c1bf" {
				t.Errorf("measurement %s", got)
			}
			if got := hex.EncodeToString(c.Extra["signer_id"]); got != "b360caf5c98c6b942a4882fa9d4823efb166a9ef6a6e4aa37c1919ed1fccc049" {
				t.Errorf("signer_id %s", got)
			}
			if got := hex.EncodeToString(c.Extra["implementation_id"]); got != "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd" {
				t.Errorf("implementation_id %s", got)
			}
			want := map[string]string{
				"profile":           tc.profile,
				"lifecycle":         "0x3000",
				"instance_id":       "01fa58755f658627ce5460f29b75296713248cae7ad9e2984b90280efcbcb50248",
				"runtime_component": "NSPE 0.0.0",
				"report_data":       "nonce",
			}
			for k, v := range want {
				if c.Details[k] != v {
					t.Errorf("%s = %q, want %q", k, c.Details[k], v)
				}
			}
			if c.ReportData != ([64]byte{}) || c.Platform != "psa" || c.Simulated {
				t.Errorf("report data %x platform %s", c.ReportData, c.Platform)
			}
		})
	}
}

type sign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

func splitToken(t testing.TB, tok []byte) sign1 {
	t.Helper()
	var m sign1
	if err := cbor.Unmarshal(tok[1:], &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func joinToken(t testing.TB, m sign1) []byte {
	t.Helper()
	b, err := cbor.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{0xd2}, b...)
}

// resign signs payload with key as TF-M does (ES256), making a test fixture.
func resign(t testing.TB, payload []byte, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	s, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, s); err != nil {
		t.Fatal(err)
	}
	b, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTFMTokenMutations(t *testing.T) {
	tok := read(t, "tfm-p2-sign1.cbor")
	opts := attest.VerifyOptions{Key: tfmPub(t)}
	m := splitToken(t, tok)
	if !bytes.Equal(joinToken(t, m), tok) {
		t.Fatal("re-encoding the token does not reproduce it; the mutations would prove nothing")
	}
	t.Run("every payload byte", func(t *testing.T) {
		for i := range m.Payload {
			mm := m
			mm.Payload = bytes.Clone(m.Payload)
			mm.Payload[i] ^= 0x01
			if _, err := (psa.Verifier{}).Verify(joinToken(t, mm), opts); !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("payload byte %d flipped: %v", i, err)
			}
		}
	})
	t.Run("every signature byte", func(t *testing.T) {
		for i := range m.Signature {
			mm := m
			mm.Signature = bytes.Clone(m.Signature)
			mm.Signature[i] ^= 0x80
			if _, err := (psa.Verifier{}).Verify(joinToken(t, mm), opts); !errors.Is(err, psa.ErrSignature) {
				t.Fatalf("signature byte %d flipped: %v", i, err)
			}
		}
	})
	t.Run("every token byte", func(t *testing.T) {
		for i := range tok {
			b := bytes.Clone(tok)
			b[i] ^= 0x01
			if _, err := (psa.Verifier{}).Verify(b, opts); err == nil {
				t.Fatalf("byte %d flipped: verified", i)
			}
		}
	})
	t.Run("truncated", func(t *testing.T) {
		for n := range tok {
			if _, err := (psa.Verifier{}).Verify(tok[:n], opts); !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("%d bytes: %v", n, err)
			}
		}
	})
	t.Run("algorithm", func(t *testing.T) {
		for _, alg := range []int{-35, -36, -8, 5} {
			mm := m
			mm.Protected, _ = cbor.Marshal(map[int]int{1: alg})
			if _, err := (psa.Verifier{}).Verify(joinToken(t, mm), opts); !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("alg %d: %v", alg, err)
			}
		}
	})
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name string
		key  []byte
		want error
	}{
		{"another key", otherDER, psa.ErrSignature},
		{"a P-384 key", func() []byte { b, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey); return b }(), psa.ErrSignature},
		{"no key", nil, psa.ErrNoKey},
		{"not a key", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), psa.ErrNoKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := (psa.Verifier{}).Verify(tok, attest.VerifyOptions{Key: tc.key}); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("control: re-signed with the TF-M key", func(t *testing.T) {
		if _, err := (psa.Verifier{}).Verify(resign(t, m.Payload, tfmKey(t)), opts); err != nil {
			t.Fatal(err)
		}
	})
}

// claim edits of the TF-M P2 claims, re-signed with TF-M's published test
// key: fixtures for what the signature cannot catch.
func TestClaimChecks(t *testing.T) {
	m := splitToken(t, read(t, "tfm-p2-sign1.cbor"))
	var claims map[int]any
	if err := cbor.Unmarshal(m.Payload, &claims); err != nil {
		t.Fatal(err)
	}
	opts := attest.VerifyOptions{Key: tfmPub(t)}
	for _, tc := range []struct {
		name  string
		edit  func(c map[int]any)
		opts  attest.VerifyOptions
		want  error
		check func(t *testing.T, c *attest.Claims)
	}{
		{"64-byte nonce is the report data", func(c map[int]any) { c[10] = bytes.Repeat([]byte{0x5a}, 64) }, opts, nil, func(t *testing.T, c *attest.Claims) {
			if c.ReportData != [64]byte(bytes.Repeat([]byte{0x5a}, 64)) {
				t.Fatalf("report data %x", c.ReportData)
			}
		}},
		{"32-byte nonce binds nothing", func(c map[int]any) { c[10] = make([]byte, 32) }, opts, nil, func(t *testing.T, c *attest.Claims) {
			if c.ReportData != ([64]byte{}) || c.Details["report_data"] == "nonce" {
				t.Fatalf("report data %x %s", c.ReportData, c.Details["report_data"])
			}
		}},
		{"debug lifecycle", func(c map[int]any) { c[2395] = 0x5000 }, opts, psa.ErrLifecycle, nil},
		{"debug lifecycle allowed", func(c map[int]any) { c[2395] = 0x4000 }, attest.VerifyOptions{Key: tfmPub(t), AllowDebug: true}, nil, nil},
		{"provisioning lifecycle", func(c map[int]any) { c[2395] = 0x2000 }, opts, psa.ErrLifecycle, nil},
		{"decommissioned", func(c map[int]any) { c[2395] = 0x6000 }, opts, psa.ErrLifecycle, nil},
		{"no software components", func(c map[int]any) { delete(c, 2399) }, opts, attest.ErrBadEvidence, nil},
		{"no nonce", func(c map[int]any) { delete(c, 10) }, opts, psa.ErrMalformed, nil},
		{"nonce of 20 bytes", func(c map[int]any) { c[10] = make([]byte, 20) }, opts, psa.ErrMalformed, nil},
		{"no implementation id", func(c map[int]any) { delete(c, 2396) }, opts, psa.ErrMalformed, nil},
		{"short instance id", func(c map[int]any) { c[256] = []byte{1, 2} }, opts, psa.ErrMalformed, nil},
		{"unknown profile", func(c map[int]any) { c[265] = "http://example.com/other" }, opts, psa.ErrMalformed, nil},
		{"runtime component chosen by type", func(c map[int]any) {
			sws := c[2399].([]any)
			sw := sws[0].(map[any]any)
			sw[uint64(1)] = psa.RuntimeComponent
		}, opts, nil, func(t *testing.T, c *attest.Claims) {
			if got := hex.EncodeToString(c.Measurement); got != "96a2ec56c65120a60ce3a53ef8d2082233772aacd5b17935a92be12ac577f685" {
				t.Fatalf("measurement %s, want the truce-runtime component's", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c map[int]any
			_ = cbor.Unmarshal(m.Payload, &c)
			tc.edit(c)
			payload, err := cbor.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			got, err := psa.Verifier{}.Verify(resign(t, payload, tfmKey(t)), tc.opts)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(read(f, "tfm-p2-sign1.cbor"))
	f.Add(read(f, "tfm-p1-sign1.cbor"))
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	key := tfmPub(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := psa.Verifier{}.Verify(b, attest.VerifyOptions{Key: key, AllowDebug: true})
		if err == nil && c == nil {
			t.Fatal("nil claims without error")
		}
		if err != nil && !errors.Is(err, attest.ErrBadEvidence) {
			t.Fatalf("error not ErrBadEvidence: %v", err)
		}
	})
}
