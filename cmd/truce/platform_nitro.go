package main

// The Nitro verifier registers itself with attest.Register, so that
// `truce evidence verify --platform nitro` and the PAS find it.
import _ "github.com/truce-project/truce/attest/nitro"
