// Package nitro verifies AWS Nitro Enclaves evidence: the Verifier checks
// an attestation document (which internal/provider/nitro gets from the
// Nitro Secure Module inside an enclave) — its COSE_Sign1 ES384
// signature, the certificate chain to the AWS Nitro Enclaves root
// (embedded), the PCRs, and the user data, nonce and public key it
// carries.
//
// Report data travels in the document's user_data field (exactly 64 bytes);
// a document without it may carry the 64 bytes as its nonce instead. The
// enclave key's SubjectPublicKeyInfo goes in public_key, for information:
// the binding that matters is the report data, which hashes the key.
//
// It holds no device code: a client that verifies Nitro evidence links no
// NSM driver.
//
// It must never return claims for a document whose signature or chain does
// not verify at the verification time, and never accept a debug-mode
// enclave (PCR0, PCR1 and PCR2 all zero) unless asked to.
package nitro
