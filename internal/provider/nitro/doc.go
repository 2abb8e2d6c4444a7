// Package nitro is the AWS Nitro Enclaves evidence provider: the Provider
// that runs inside an enclave and asks the Nitro Secure Module (/dev/nsm)
// for an attestation document over the runtime's report data, and the
// NSM's request and response encoding. The enclave runtime is its only
// user; attest/nitro verifies what it provides.
//
// Report data travels in the document's user_data field (exactly 64
// bytes); the enclave key's SubjectPublicKeyInfo goes in public_key, for
// information.
//
// It must never ask for a document over other report data than it was
// given, never verify evidence (attest/nitro does), and never be imported
// by a verifier or a client.
package nitro
