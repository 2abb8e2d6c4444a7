package tsm

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/cca"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/attest/snp"
	"github.com/truce-project/truce/attest/tdx"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
)

func readB(b *testing.B, path string) []byte {
	d, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkVerify measures the confidential-VM verifiers on the published
// evidence, against the simulated platform's verifier (one ECDSA P-256
// COSE_Sign1 check) as the baseline of the same run.
func BenchmarkVerify(b *testing.B) {
	dev, err := simprovider.NewDevice(nil)
	if err != nil {
		b.Fatal(err)
	}
	simTok, err := simprovider.NewProvider(dev, make([]byte, 32)).Evidence(context.Background(), [64]byte{1})
	if err != nil {
		b.Fatal(err)
	}
	q := readB(b, "../../../attest/tdx/testdata/tdx_prod_quote_SPR_E4.dat")
	q = q[:len(q)-len("\nextra bytes(only for testing purpose)\n")]
	for _, bc := range []struct {
		name string
		v    attest.Verifier
		ev   []byte
		opts attest.VerifyOptions
	}{
		{"sim-baseline", sim.NewVerifier(dev.Public()), simTok, attest.VerifyOptions{}},
		{"snp", snp.NewVerifier(), readB(b, "../../../attest/snp/testdata/attestation.bin"),
			attest.VerifyOptions{Key: readB(b, "../../../attest/snp/testdata/vcek.testcer"), AllowDebug: true, Now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}},
		{"tdx", tdx.NewVerifier(), q, attest.VerifyOptions{Now: time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)}},
		{"cca", cca.NewVerifier(), readB(b, "../../../attest/cca/testdata/cca_token.cbor"), attest.VerifyOptions{Key: readB(b, "../../../attest/cca/testdata/cca_platform.pub")}},
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
