package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
)

// TestDecode accepts the native bytes, hex and base64 text of them (with
// line breaks, as tools print them).
func TestDecode(t *testing.T) {
	raw := []byte{0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa0, 0x00, 0xff}
	tests := []struct {
		name string
		in   []byte
	}{
		{"native", raw},
		{"hex", []byte(hex.EncodeToString(raw) + "\n")},
		{"hex with breaks", []byte(hex.EncodeToString(raw[:4]) + "\n" + hex.EncodeToString(raw[4:]))},
		{"base64", []byte(base64.StdEncoding.EncodeToString(raw))},
		{"base64 raw url", []byte(base64.RawURLEncoding.EncodeToString(raw) + "\r\n")},
	}
	for _, tt := range tests {
		if got := Decode(tt.in); !bytes.Equal(got, raw) {
			t.Errorf("%s: Decode(%q) = %x, want %x", tt.name, tt.in, got, raw)
		}
	}
}

// TestVerifier refuses sim without a device key or with an unreadable one,
// and a platform no verifier is registered for.
func TestVerifier(t *testing.T) {
	if _, err := Verifier(attest.SimPlatform, ""); !errors.Is(err, ErrNoDeviceKey) {
		t.Errorf("sim without a key: %v, want ErrNoDeviceKey", err)
	}
	if _, err := Verifier(attest.SimPlatform, filepath.Join(t.TempDir(), "none.pub")); err == nil || errors.Is(err, ErrNoDeviceKey) {
		t.Errorf("sim with a missing key file: %v, want a read error", err)
	}
	if _, err := Verifier("no-such-platform", ""); !errors.Is(err, attest.ErrUnsupportedPlatform) {
		t.Errorf("unknown platform: %v, want ErrUnsupportedPlatform", err)
	}
	if ps := Platforms(); len(ps) == 0 || ps[0] != attest.SimPlatform && !contains(ps, attest.SimPlatform) {
		t.Errorf("Platforms() = %v, want sim among them", ps)
	}
}

// TestVerifierSim checks simulated evidence against the device key given.
func TestVerifierSim(t *testing.T) {
	dev, err := simprovider.NewDevice(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "device.pub")
	if err := dev.WritePublic(pub); err != nil {
		t.Fatal(err)
	}
	v, err := Verifier(attest.SimPlatform, pub)
	if err != nil {
		t.Fatal(err)
	}
	m := bytes.Repeat([]byte{7}, 32)
	ev, err := simprovider.NewProvider(dev, m).Evidence(context.Background(), [64]byte{1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(ev, attest.VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !bytes.Equal(c.Measurement, m) || c.ReportData[0] != 1 {
		t.Errorf("claims %x over %x, want %x over 01…", c.Measurement, c.ReportData, m)
	}
}

// TestCheckAndNewSim makes simulated evidence from a device key file,
// checks it with and without the nonce it binds, and writes its claims.
func TestCheckAndNewSim(t *testing.T) {
	dev, err := simprovider.NewDevice(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, pub := filepath.Join(dir, "device.key"), filepath.Join(dir, "device.pub")
	if err := dev.WriteKey(key); err != nil {
		t.Fatal(err)
	}
	if err := dev.WritePublic(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSim(filepath.Join(dir, "none.key"), []byte{1}, [64]byte{}); !errors.Is(err, ErrDeviceKey) {
		t.Errorf("NewSim without a key file: %v, want ErrDeviceKey", err)
	}
	m := bytes.Repeat([]byte{9}, 32)
	ev, err := NewSim(key, m, [64]byte{2})
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verifier(attest.SimPlatform, pub)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 64)
	if _, err := Check(ev, v, attest.VerifyOptions{}, nonce); !errors.Is(err, attest.ErrBinding) {
		t.Errorf("Check with another nonce: %v, want ErrBinding", err)
	}
	nonce[0] = 2
	c, err := Check(ev, v, attest.VerifyOptions{}, nonce)
	if err != nil {
		t.Fatalf("Check with its nonce: %v", err)
	}
	var b bytes.Buffer
	WriteClaims(&b, c, time.Now())
	if !strings.Contains(b.String(), "simulated: yes") || !strings.Contains(b.String(), "measurement: "+strings.Repeat("09", 32)) {
		t.Errorf("claims written:\n%s", b.String())
	}
	if _, err := Check(ev[:len(ev)-1], v, attest.VerifyOptions{}, nil); err == nil {
		t.Error("Check accepted truncated evidence")
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
