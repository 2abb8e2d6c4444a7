package attest_test

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/attesttest"
	"github.com/truce-project/truce/policy"
)

// BenchmarkCheckEnclave is the check every client makes on every TLS
// handshake: "baseline" under a policy with no firmware floor or
// revocations, "rules" under one with a minimum TCB on every snp component
// and ten revoked measurements. Compare the two in one run.
func BenchmarkCheckEnclave(b *testing.B) {
	ca := attesttest.NewCA(b)
	m := bytes.Repeat([]byte{0x5a}, 48)
	var revoked []policy.Revocation
	for i := range 10 {
		revoked = append(revoked, policy.Revocation{Platform: "snp", Measurement: hex.EncodeToString(bytes.Repeat([]byte{byte(i + 1)}, 48))})
	}
	for _, bc := range []struct {
		name string
		o    attesttest.PolicyOptions
	}{
		{"baseline", attesttest.PolicyOptions{}},
		{"rules", attesttest.PolicyOptions{MinimumTCB: map[string]policy.TCB{"snp": {"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}}, Revoked: revoked}},
	} {
		bc.o.CACertPEM, bc.o.Runtimes = ca.PEM(), []attesttest.Runtime{{Platform: "snp", Measurement: m}}
		pol := attesttest.Policy(b, bc.o)
		ext, err := attest.Identity{Platform: "snp", Measurement: m, PolicyHash: pol.Hash(),
			TCB: map[string]int{"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}}.Extension()
		if err != nil {
			b.Fatal(err)
		}
		chain := []*x509.Certificate{issue(b, ca, leafOpts{exts: []pkix.Extension{ext}})}
		now := time.Now()
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := attest.CheckEnclave(chain, pol, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
