// Package e2e holds Truce's end-to-end tests: they build the truce binary
// and drive the attestation service, the host, the runtime and the client
// commands as separate processes on loopback, as a user would. It has no
// code of its own outside tests, and nothing may import it.
package e2e
