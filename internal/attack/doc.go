// Package attack is Truce's attack suite: tests that drive a real host, a
// real runtime and a real attestation service, each a "truce" process on
// loopback, the way an adversary would. The adversaries are a malicious
// host (it relays every byte and may tamper with, replay, drop or
// redirect them, or kill the enclave), a malicious principal (it holds a
// valid identity and asks for what the policy does not grant), hostile
// network clients (malformed, oversized, slow, or very many connections)
// and hostile guest programs (loops, memory, output, WASI pointers).
//
// Every test asserts two things: the attack ends in a clear refusal, and
// afterwards the runtime still serves and every file is as it was.
//
// The package holds no code that ships; it must never reach into a
// process's memory or files to make a test pass. Tests longer than a few
// seconds run only with TRUCE_LONG=1.
package attack
