// Package platformtest holds the integration test of the whole attestation
// flow on each hardware platform Truce verifies from recorded or fake
// devices (Nitro, SGX, PSA): a real runtime asks its platform provider,
// backed by a fake device, for evidence over its key, policy and the
// service's nonce; a real attestation service checks it with that
// platform's verifier (configured with the fake device's roots) and issues
// a certificate; the client-side check accepts the chain. It has no code
// outside its tests and must never be imported.
package platformtest
