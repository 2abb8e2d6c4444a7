// Package deployment runs Truce as real processes on this machine: it
// builds the truce binary from the module's source (cached on disk, keyed
// by that source, and built at most once per process), starts and stops
// truce child processes with their output captured, starts an attestation
// service ("truce pas serve --allow-sim") and hosts ("truce host serve" on
// the simulated platform, each starting "truce runtime" as its child) the
// way the demo does, and picks free loopback addresses.
//
// It is the one process harness of the end-to-end tests, the attack suite,
// the examples' story harness, the bench and the demo. Everything takes a
// context and returns errors, so that programs can use it;
// [github.com/truce-project/truce/internal/deployment/deploymenttest] holds
// the thin testing.TB wrappers tests want.
//
// It must never import testing (the demo ships in the truce binary), never
// reach into a child's memory or files beyond the output and the files the
// child is told to write, and never leave a child it started running once
// Stop has returned: a child that ignores the interrupt is killed with its
// descendants.
package deployment
