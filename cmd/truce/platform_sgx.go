package main

import (
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sgx"
)

// The SGX verifier registers itself with attest.Register, so that
// `truce evidence verify --platform sgx [--collateral FILE]` and the PAS
// find it. Under Gramine, `truce runtime --platform sgx` gets DCAP quotes
// through /dev/attestation.
func init() {
	enclaveProviders[sgx.Platform] = func() (attest.Provider, error) {
		if _, err := sgx.DirFiles(sgx.AttestationDir).ReadFile("attestation_type"); err != nil {
			return nil, withHint(err, "run the runtime under Gramine with sgx.remote_attestation = \"dcap\" (see docs/platforms/sgx.md)")
		}
		return &sgx.Provider{}, nil
	}
}
