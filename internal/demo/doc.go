// Package demo runs Truce end to end on this machine, with the truce
// executable as child processes (the attestation service, the host and,
// through the host, the runtime) on the simulated platform: Run tells the
// story of "truce demo", narrated step by step; Load measures the
// throughput and latency of many clients against several enclaves, for
// "truce load".
//
// It dials nothing but the processes it started, on loopback, and stops
// every one of them before it returns. It must never be imported by the
// host, the runtime, the attestation service or the public SDK: it is a
// tool of the command, built on the SDK (client, policy, receipt, audit).
package demo
