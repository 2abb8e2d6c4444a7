package main

// The SEV-SNP verifier registers itself with attest.Register, so that
// "truce evidence verify --platform snp" finds it.
import _ "github.com/truce-project/truce/attest/snp"
