// Package policy reads, validates and answers questions about a Truce
// policy: the one JSON file every party agrees on, naming the parties and
// their certificates, what each may do on which paths of the enclave's file
// system, which programs (pinned by SHA-256) may run with which rights,
// which enclave measurements are trusted and which attestation service
// vouches for them, and the limits of a run; optionally, data-use budgets,
// held results, and the rules by which the policy may be succeeded in a
// running enclave (docs/spec/lifecycle.md).
//
// Parsing is strict: unknown fields, duplicate keys at any depth, values of
// the wrong type, null, invalid UTF-8 and trailing data are all errors, and
// every problem found is reported with its JSON path. The policy hash is the
// SHA-256 of the file's exact bytes.
//
// This package must never grant anything the policy text does not say, never
// accept a policy it could not fully validate, and never panic on any input.
// It does not touch the network or the file system.
package policy
