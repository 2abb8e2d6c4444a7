package platformtest

import (
	"context"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/nitro"
	"github.com/truce-project/truce/attest/psa"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/sim"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
)

// BenchmarkVerify measures each verifier on its recorded real evidence,
// against the simulated platform's verifier (one ECDSA P-256 check of a
// COSE_Sign1 token) as the baseline of the same run.
func BenchmarkVerify(b *testing.B) {
	dev, err := simprovider.NewDevice(nil)
	if err != nil {
		b.Fatal(err)
	}
	simTok, err := simprovider.NewProvider(dev, make([]byte, 32)).Evidence(context.Background(), [64]byte{1})
	if err != nil {
		b.Fatal(err)
	}
	psaKey, err := psa.ParseKey(testdataB(b, "psa/testdata/tfm-iak-pub.pem"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		v    attest.Verifier
		ev   []byte
		opts attest.VerifyOptions
	}{
		{"sim-baseline", sim.NewVerifier(dev.Public()), simTok, attest.VerifyOptions{}},
		{"nitro", nitro.Verifier{}, testdataB(b, "nitro/testdata/attestation.cbor"),
			attest.VerifyOptions{Now: time.Date(2024, 9, 17, 17, 0, 0, 0, time.UTC), AllowDebug: true}},
		{"sgx", sgx.Verifier{}, testdataB(b, "sgx/testdata/quote-v3.bin"), attest.VerifyOptions{Now: time.Unix(1671497404, 0)}},
		{"sgx-collateral", sgx.Verifier{}, testdataB(b, "sgx/testdata/quote-v3.bin"),
			attest.VerifyOptions{Now: time.Unix(1671497404, 0), Collateral: testdataB(b, "sgx/testdata/collateral.json")}},
		{"psa", psa.Verifier{Key: psaKey}, testdataB(b, "psa/testdata/tfm-p2-sign1.cbor"), attest.VerifyOptions{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.v.Verify(bc.ev, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
