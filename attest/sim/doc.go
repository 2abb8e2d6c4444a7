// Package sim verifies the simulated platform's evidence: PSA-style
// attestation tokens that a software "device" (internal/provider/sim)
// signs, for development without TEE hardware. It holds the token's
// claims format, the verifier, the device public key's file format and
// the measurement of a runtime executable; it holds no device key. It is
// honest about being a simulation: its claims name the platform "sim" and
// say Simulated, and a policy accepts them only when it lists sim.
//
// It must never be presented, or accepted, as hardware-backed evidence,
// and never hold or load a device's private key.
package sim
