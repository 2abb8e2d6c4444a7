package sim_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
)

var meas = bytes.Repeat([]byte{0xab}, 32)

// TestRoundTrip: the device's tokens verify with attest/sim's verifier.
func TestRoundTrip(t *testing.T) {
	d, err := simprovider.NewDevice(nil)
	if err != nil {
		t.Fatal(err)
	}
	rd := attest.ReportData([]byte("spki"), [32]byte{1}, []byte("nonce"))
	p := simprovider.NewProvider(d, meas)
	ev, err := p.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sim.NewVerifier(d.Public()).Verify(ev, attest.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ReportData != rd || !bytes.Equal(c.Measurement, meas) || !c.Simulated || c.Platform != "sim" || p.Platform() != "sim" {
		t.Fatalf("claims %+v", c)
	}
}

// TestRefused: a token of another device, or issued in the future (by
// the provider's clock), is refused.
func TestRefused(t *testing.T) {
	d, _ := simprovider.NewDevice(nil)
	other, _ := simprovider.NewDevice(nil)
	rd := attest.ReportData([]byte("spki"), [32]byte{1}, []byte("nonce"))
	ev, err := simprovider.NewProvider(d, meas).Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	future := simprovider.NewProviderWith(d, meas, simprovider.ProviderOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	fev, _ := future.Evidence(context.Background(), rd)
	for _, tc := range []struct {
		name string
		ev   []byte
		pub  *simprovider.Device
	}{
		{"other device key", ev, other},
		{"issued in the future", fev, d},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.NewVerifier(tc.pub.Public()).Verify(tc.ev, attest.VerifyOptions{})
			if !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("got %v, want ErrBadEvidence", err)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := simprovider.NewProvider(d, meas).Evidence(ctx, rd); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	d, _ := simprovider.NewDevice(nil)
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
	d2, err := simprovider.LoadDevice(kp)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sim.LoadPublic(pp)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(d.Public()) || !d2.Public().Equal(d.Public()) {
		t.Fatal("keys differ after a round trip")
	}
	if _, err := simprovider.LoadDevice(pp); err == nil {
		t.Fatal("loaded a public key as a device key")
	}
}
