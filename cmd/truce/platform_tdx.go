package main

// The TDX verifier registers itself with attest.Register, so that
// "truce evidence verify --platform tdx" finds it.
import _ "github.com/truce-project/truce/attest/tdx"
