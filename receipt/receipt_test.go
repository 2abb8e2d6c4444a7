package receipt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"
)

func signed(t *testing.T) *Receipt {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "enclave"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	r := &Receipt{PolicyHash: "ab", Program: "/program/p.wasm", ProgramHash: "cd",
		Inputs:  []FileHash{{"/input/a", "11"}},
		Outputs: []FileHash{{"/output/o", "22"}},
		Outcome: "exited", Started: time.Now(), Finished: time.Now(), Platform: "sim", Chain: [][]byte{der}}
	if err := Sign(r, key); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSignVerify(t *testing.T) {
	if _, err := VerifySignature(signed(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tamper func(*Receipt)
		want   error
	}{
		{"exit code", func(r *Receipt) { r.ExitCode = 1 }, ErrSignature},
		{"output hash", func(r *Receipt) { r.Outputs[0].SHA256 = "23" }, ErrSignature},
		{"input dropped", func(r *Receipt) { r.Inputs = nil }, ErrSignature},
		{"time", func(r *Receipt) { r.Finished = r.Finished.Add(time.Second) }, ErrSignature},
		{"signature byte", func(r *Receipt) { r.Signature[len(r.Signature)-1] ^= 1 }, ErrSignature},
		{"no chain", func(r *Receipt) { r.Chain = nil }, ErrChain},
		{"other key", func(r *Receipt) { r.Chain = signed(t).Chain }, ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signed(t)
			tc.tamper(r)
			if _, err := VerifySignature(r); !errors.Is(err, tc.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}
