// Package sgx is the Intel SGX evidence provider: the Provider that runs
// inside a Gramine enclave and gets DCAP quotes over the runtime's report
// data through Gramine's /dev/attestation pseudo-files. The enclave
// runtime is its only user; attest/sgx verifies what it provides.
//
// It must never write other report data than it was given, never return
// a quote that does not parse, never verify evidence (attest/sgx does),
// and never be imported by a verifier or a client.
package sgx
