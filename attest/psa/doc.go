// Package psa is Truce's Arm PSA platform (TrustZone with Trusted Firmware-M,
// and the PSA-token back-ends Veracruz had): the Verifier of PSA initial
// attestation tokens (COSE_Sign1 over PSA profile 1 or 2 claims, checked
// with github.com/veraison/psatoken) against the initial attestation public
// key the verifier is given. The Provider that asks a token source for a
// token over the runtime's report data is internal/provider/psa: this
// package holds no device code.
//
// The report data travels as the token's nonce (auth challenge) of 64
// bytes. The measurement is that of the software component whose type is
// "truce-runtime", or, if none is, of the last component listed.
//
// It must never return claims for a token whose signature does not verify
// with the given key, and never accept a device in a debug or
// not-yet-secured lifecycle state unless asked to.
package psa
