// Package sim is the simulated platform's evidence provider: the Device, a
// P-256 key standing where a hardware root of trust would (made, written
// and loaded as key files by "truce pas init" and the runtime), and the
// Provider that signs simulated tokens over the runtime's report data
// with it. attest/sim verifies what it provides; the enclave runtime, the
// attestation service's init and tests are its only users.
//
// It must never be presented as hardware-backed, never be imported by a
// verifier or a client, and never write a device key where one exists.
package sim
