// Package sgx verifies Intel SGX evidence (which internal/provider/sgx gets
// from Gramine's /dev/attestation inside an enclave): the Verifier of DCAP
// ECDSA quotes (version 3) checks the quote signature by the attestation key, the QE
// report signed by the PCK certificate, the binding of the attestation key
// into the QE report, the PCK certificate chain to the Intel SGX Root CA
// (embedded), and, given Intel's collateral, the signed TCB info and QE
// identity (TCB status of the platform and of the quoting enclave) and the
// certificate revocation lists.
//
// The measurement is MRENCLAVE; MRSIGNER is the extra measurement
// "mrsigner"; the report data is the enclave report's 64 bytes.
//
// It holds no device code: a client that verifies SGX evidence links no
// Gramine file access.
//
// It must never return claims for a quote whose signatures or chain do not
// verify at the verification time, never accept a debug enclave unless
// asked to, and never report a TCB status it did not check (without
// collateral it says "unknown").
package sgx
