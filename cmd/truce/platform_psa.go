package main

// The PSA verifier registers itself with attest.Register, so that
// `truce evidence verify --platform psa --key FILE` and the PAS find it.
import _ "github.com/truce-project/truce/attest/psa"
