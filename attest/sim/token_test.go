package sim

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
)

var meas = bytes.Repeat([]byte{0xab}, 32)

func token(t testing.TB, d *Device, rd [64]byte) []byte {
	t.Helper()
	ev, err := NewProvider(d, meas).Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestRoundTrip(t *testing.T) {
	d, err := NewDevice(nil)
	if err != nil {
		t.Fatal(err)
	}
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
	d, _ := NewDevice(nil)
	other, _ := NewDevice(nil)
	rd := attest.ReportData([]byte("spki"), [32]byte{1}, []byte("nonce"))
	ev := token(t, d, rd)
	future := NewProviderWith(d, meas, ProviderOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	fev, _ := future.Evidence(context.Background(), rd)
	for _, tc := range []struct {
		name string
		ev   []byte
		pub  *Device
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
	d, _ := NewDevice(nil)
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

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	d, _ := NewDevice(nil)
	kp, pp := filepath.Join(dir, "device.key"), filepath.Join(dir, "device.pub")
	if err := d.WriteKey(kp); err != nil {
		t.Fatal(err)
	}
	if err := d.WritePublic(pp); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteKey(kp); err == nil {
		t.Fatal("overwrote the key file")
	}
	d2, err := LoadDevice(kp)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublic(pp)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(d.Public()) || !d2.Public().Equal(d.Public()) {
		t.Fatal("keys differ after a round trip")
	}
	if _, err := LoadDevice(pp); err == nil {
		t.Fatal("loaded a public key as a device key")
	}
}

// FuzzSimVerify: the verifier never panics and never accepts a token the
// fuzzer made, since it cannot sign with the device key.
func FuzzSimVerify(f *testing.F) {
	d, _ := NewDevice(nil)
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
	d, _ := NewDevice(nil)
	ev := token(b, d, [64]byte{7})
	v := NewVerifier(d.Public())
	for b.Loop() {
		if _, err := v.Verify(ev, attest.VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
