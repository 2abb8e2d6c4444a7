// Package pas is the proxy attestation service: it hands out single-use
// nonces, checks an enclave's evidence against the policy the enclave runs,
// and issues a short-lived certificate for the enclave's TLS key that
// carries what was attested (see attest.Identity). Clients then check that
// certificate against the same policy with attest.CheckEnclave instead of
// verifying platform evidence themselves.
//
// Every certificate is appended to a tamper-evident, hash-chained log
// before it is returned. The log and the outstanding nonces live in a
// Store: an embedded SQLite file by default (one process serves), or a
// PostgreSQL database shared by several replicas, whose appends are
// serialised by a transaction-scoped advisory lock and each of which
// verifies what the others appended before extending the chain. The service must never issue a certificate
// it has not logged, never accept a nonce twice, and never accept simulated
// evidence unless started with AllowSim; a simulated certificate always
// says so.
//
// Anyone who reaches the service may ask for nonces, so they are bounded:
// per anonymous address, for all anonymous callers together, and by a
// share of the outstanding nonces kept for hosts that authenticate with a
// credential (AddHost, paswire.Client.Credential), each of which has a rate of its
// own. A policy with attestation.single_instance gets one enclave instance
// (one enclave key, renewals included) certified, checked inside the
// log's append transaction (Store.AppendSingle); Instances lists the
// instances the log holds for a policy.
//
// The service's wire (request and answer types, problem types and their
// sentinel errors, the HTTP client hosts use) is package
// internal/paswire, so that hosts link none of this package's store; this
// package answers with paswire's problems and must never define problem
// types or sentinels of its own that callers on the wire branch on.
package pas
