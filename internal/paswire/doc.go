// Package paswire is the wire of the proxy attestation service (package
// internal/pas): the bodies of its requests and answers (AttestRequest,
// NonceResponse), its RFC 9457 problem types in one table (Problems, with
// the status, title and sentinel error of each) and ProblemError, which
// wraps those sentinels, the enclave-side construction of an attestation
// request (NewRequest), and Client, the HTTP client hosts and tools talk
// to the service with.
//
// Both sides share it: the service answers with its problems, and hosts
// branch on its sentinels. It must never import internal/pas, a database
// driver or anything of the runtime: a host links this package and not
// the service's store.
package paswire
