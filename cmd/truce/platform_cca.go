package main

// The Arm CCA verifier registers itself with attest.Register, so that
// "truce evidence verify --platform cca" finds it.
import _ "github.com/truce-project/truce/attest/cca"
