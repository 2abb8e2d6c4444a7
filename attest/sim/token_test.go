package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	"github.com/truce-project/truce/attest"
)

var meas = bytes.Repeat([]byte{0xab}, 32)

// testDevice stands in for the simulated device (internal/provider/sim,
// which a verifier must not import): a key that signs tokens as the
// device does.
type testDevice struct{ key *ecdsa.PrivateKey }

func newDevice(t testing.TB) *testDevice {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testDevice{k}
}

func (d *testDevice) Public() *ecdsa.PublicKey { return &d.key.PublicKey }

// tokenAt is the token the device makes over rd at iat.
func tokenAt(t testing.TB, d *testDevice, rd [64]byte, iat time.Time) []byte {
	t.Helper()
	payload, err := TokenClaims(rd, d.Public(), meas, iat)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cose.NewSigner(cose.AlgorithmES256, d.key)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelContentType] = ContentType
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

func token(t testing.TB, d *testDevice, rd [64]byte) []byte {
	t.Helper()
	return tokenAt(t, d, rd, time.Now())
}

func TestRoundTrip(t *testing.T) {
	d := newDevice(t)
	rd := attest.ReportData([]byte("spki"), [32]byte{1}, []byte("nonce"))
	ev := token(t, d, rd)
	c, err := NewVerifier(d.Public()).Verify(ev, attest.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ReportData != rd || !bytes.Equal(c.Measurement, meas) || !c.Simulated || c.Platform != "sim" {
		t.Fatalf("claims %+v", c)
	}
}

func TestRefused(t *testing.T) {
	d, other := newDevice(t), newDevice(t)
	rd := attest.ReportData([]byte("spki"), [32]byte{1}, []byte("nonce"))
	ev := token(t, d, rd)
	fev := tokenAt(t, d, rd, time.Now().Add(time.Hour))
	for _, tc := range []struct {
		name string
		ev   []byte
		pub  *testDevice
	}{
		{"other device key", ev, other},
		{"empty", nil, d},
		{"truncated", ev[:len(ev)-1], d},
		{"trailing", append(append([]byte{}, ev...), 0), d},
		{"huge", make([]byte, maxToken+1), d},
		{"issued in the future", fev, d},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(tc.pub.Public()).Verify(tc.ev, attest.VerifyOptions{})
			if !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("got %v, want ErrBadEvidence", err)
			}
		})
	}
}

// TestEveryBitFlip flips every bit and truncates at every length of a real
// token: none may verify with claims.
func TestEveryBitFlip(t *testing.T) {
	d := newDevice(t)
	ev := token(t, d, attest.ReportData(nil, [32]byte{}, []byte("n")))
	v := NewVerifier(d.Public())
	for i := range ev {
		for b := 0; b < 8; b++ {
			m := append([]byte{}, ev...)
			m[i] ^= 1 << b
			if _, err := v.Verify(m, attest.VerifyOptions{}); err == nil {
				t.Fatalf("byte %d bit %d flipped: accepted", i, b)
			}
		}
		if _, err := v.Verify(ev[:i], attest.VerifyOptions{}); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", i)
		}
	}
}

// FuzzSimVerify: the verifier never panics and never accepts a token the
// fuzzer made, since it cannot sign with the device key.
func FuzzSimVerify(f *testing.F) {
	d := newDevice(f)
	ev := token(f, d, [64]byte{7})
	f.Add(ev)
	f.Add(ev[:10])
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Add([]byte{})
	v := NewVerifier(d.Public())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := v.Verify(b, attest.VerifyOptions{})
		if err == nil && !bytes.Equal(b, ev) {
			// A different encoding of the same signed token is acceptable
			// only if it says what the original says.
			if c.ReportData != [64]byte{7} || !bytes.Equal(c.Measurement, meas) {
				t.Fatalf("accepted forged claims %+v", c)
			}
		}
	})
}

func BenchmarkSimVerify(b *testing.B) {
	d := newDevice(b)
	ev := token(b, d, [64]byte{7})
	v := NewVerifier(d.Public())
	for b.Loop() {
		if _, err := v.Verify(ev, attest.VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPublicKeyFile: LoadPublic reads what the device's WritePublic
// writes (a PKIX "PUBLIC KEY"), and refuses anything else.
func TestPublicKeyFile(t *testing.T) {
	d := newDevice(t)
	der, err := x509.MarshalPKIXPublicKey(d.Public())
	if err != nil {
		t.Fatal(err)
	}
	pp := filepath.Join(t.TempDir(), "device.pub")
	if err := os.WriteFile(pp, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublic(pp)
	if err != nil || !pub.Equal(d.Public()) {
		t.Fatalf("LoadPublic = %v, %v", pub, err)
	}
	if _, err := ParsePublicPEM([]byte("not pem")); err == nil {
		t.Fatal("parsed garbage as a public key")
	}
}
