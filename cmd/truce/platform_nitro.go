package main

import (
	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/nitro"
	nitroprovider "github.com/truce-project/truce/internal/provider/nitro"
)

// Inside a Nitro enclave, `truce runtime --platform nitro` gets its
// attestation documents from the NSM.
func init() {
	enclaveProviders[nitro.Platform] = func() (attest.Provider, error) {
		dev, err := nitroprovider.OpenDevice(nitroprovider.DevicePath)
		if err != nil {
			return nil, withHint(err, "run the runtime inside a Nitro enclave (see docs/guide/platforms/nitro.md)")
		}
		return &nitroprovider.Provider{Device: dev}, nil
	}
}
