// Package psa is the Arm PSA evidence provider: the Provider that gets
// initial attestation tokens over the runtime's report data from a
// TokenSource (a TEE client on hardware), and SoftwareIAK, a TokenSource
// signing with a key in memory as Veracruz's Linux back-end did. The
// enclave runtime and tests are its only users; attest/psa verifies what
// it provides.
//
// It must never ask for a token over other report data than it was
// given, never verify evidence (attest/psa does), and never be imported
// by a verifier or a client.
package psa
