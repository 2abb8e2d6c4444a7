// Package nitro is Truce's AWS Nitro Enclaves platform: the Provider that
// runs inside an enclave and asks the Nitro Secure Module (/dev/nsm) for an
// attestation document over the runtime's report data, and the Verifier that
// checks such a document — its COSE_Sign1 ES384 signature, the certificate
// chain to the AWS Nitro Enclaves root (embedded), the PCRs, and the
// user data, nonce and public key it carries.
//
// Report data travels in the document's user_data field (exactly 64 bytes);
// a document without it may carry the 64 bytes as its nonce instead. The
// enclave key's SubjectPublicKeyInfo goes in public_key, for information:
// the binding that matters is the report data, which hashes the key.
//
// It must never return claims for a document whose signature or chain does
// not verify at the verification time, and never accept a debug-mode
// enclave (PCR0, PCR1 and PCR2 all zero) unless asked to.
package nitro
