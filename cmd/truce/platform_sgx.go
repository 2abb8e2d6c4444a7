package main

// The SGX verifier registers itself with attest.Register, so that
// `truce evidence verify --platform sgx [--collateral FILE]` and the PAS
// find it.
import _ "github.com/truce-project/truce/attest/sgx"
