// Package sim is the simulated platform: a software "device" that signs
// PSA-style attestation tokens, for development without TEE hardware. It is
// honest about being a simulation: its evidence names the platform "sim",
// and a verifier accepts it only when told to.
//
// It must never be presented, or accepted, as hardware-backed evidence.
package sim
