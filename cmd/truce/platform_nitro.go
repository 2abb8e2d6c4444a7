package main

import (
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/nitro"
)

// The Nitro verifier registers itself with attest.Register, so that
// `truce evidence verify --platform nitro` and the PAS find it. Inside a
// Nitro enclave, `truce runtime --platform nitro` gets its attestation
// documents from the NSM.
func init() {
	enclaveProviders[nitro.Platform] = func() (attest.Provider, error) {
		dev, err := nitro.OpenDevice(nitro.DevicePath)
		if err != nil {
			return nil, withHint(err, "run the runtime inside a Nitro enclave (see docs/platforms/nitro.md)")
		}
		return &nitro.Provider{Device: dev}, nil
	}
}
