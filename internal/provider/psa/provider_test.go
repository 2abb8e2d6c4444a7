package psa_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/psa"
	psaprovider "github.com/truce-project/truce/internal/provider/psa"
)

// tfmKey is TF-M's published initial attestation test key, from the
// verifier's testdata.
func tfmKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("../../../attest/psa/testdata/tfm-iak-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestProviderSoftwareIAK(t *testing.T) {
	key := tfmKey(t)
	meas := bytes.Repeat([]byte{0x11}, 32)
	signer := bytes.Repeat([]byte{0x22}, 32)
	src := psaprovider.SoftwareIAK{
		Key: key, ImplementationID: bytes.Repeat([]byte{0x33}, 32),
		Components: []psa.Component{
			{Type: "BL", Version: "1.0", Measurement: bytes.Repeat([]byte{0x44}, 32), SignerID: signer},
			{Type: psa.RuntimeComponent, Version: "0.1", Measurement: meas, SignerID: signer, Description: "SHA256"},
		},
	}
	p := psaprovider.Provider{Source: src}
	rd := attest.ReportData([]byte("spki"), [32]byte{1}, []byte("n"))
	tok, err := p.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	c, err := psa.Verifier{Key: &key.PublicKey}.Verify(tok, attest.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ReportData != rd || !bytes.Equal(c.Measurement, meas) || !bytes.Equal(c.Extra["signer_id"], signer) {
		t.Fatalf("claims %+v", c)
	}
	if p.Platform() != "psa" {
		t.Fatal(p.Platform())
	}
	if _, err := (psaprovider.Provider{}).Evidence(context.Background(), rd); err == nil {
		t.Fatal("no source accepted")
	}
	bad := src
	bad.Components = nil
	if _, err := (psaprovider.Provider{Source: bad}).Evidence(context.Background(), rd); err == nil {
		t.Fatal("token without components made")
	}
}
