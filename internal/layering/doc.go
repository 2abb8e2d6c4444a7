// Package layering holds no code: its test checks, with go list, that the
// module's packages link only what their place in the design allows (the
// policy no execution, the host no runtime, client or attestation store,
// the public SDK nothing internal to the enclave or the service). It must
// never be imported.
package layering
