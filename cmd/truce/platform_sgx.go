package main

import (
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sgx"
	sgxprovider "github.com/truce-project/truce/internal/provider/sgx"
)

// Under Gramine, `truce runtime --platform sgx` gets DCAP quotes through
// /dev/attestation.
func init() {
	enclaveProviders[sgx.Platform] = func() (attest.Provider, error) {
		if _, err := sgxprovider.DirFiles(sgxprovider.AttestationDir).ReadFile("attestation_type"); err != nil {
			return nil, withHint(err, "run the runtime under Gramine with sgx.remote_attestation = \"dcap\" (see docs/guide/platforms/sgx.md)")
		}
		return &sgxprovider.Provider{}, nil
	}
}
