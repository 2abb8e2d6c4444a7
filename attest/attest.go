// Package attest holds what every platform shares: the Provider (inside the
// enclave, evidence for 64 bytes of report data) and Verifier (check evidence,
// return what it attests) interfaces, the report-data binding of an enclave
// key to a policy and a nonce, the X.509 extension that carries an enclave's
// identity, the client-side check of an enclave certificate chain against
// a policy, the one check of evidence against a policy (ExplainEvidence)
// that the attestation service, clients and bundles share, the policy's
// rules on runtimes (revoked measurements, pinned
// measurements, minimum TCB) that the attestation service, the runtime and
// clients share, and the Verdict every refusal is.
//
// It must never accept evidence or a certificate it has not checked, never
// treat simulated evidence as hardware-backed, and never decide on a
// verdict received from elsewhere: verdicts only explain. It holds no
// provider and no registry: providers live in internal/provider, and each
// platform package builds its verifier (attest/verifiers all of them).
package attest

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"time"
)

// DomainSeparator starts every report-data binding, so that a signature over
// it can never be mistaken for one made for another purpose.
const DomainSeparator = "truce-attest-v1"

// ReportData binds an enclave key, a policy and a nonce into the 64 bytes
// the platform signs:
//
//	SHA-512( DomainSeparator ‖ SHA-256(spkiDER) ‖ policyHash ‖ len(nonce) as 4-byte big-endian ‖ nonce )
//
// Every field before the nonce has a fixed length and the nonce is
// length-prefixed, so no two different inputs give the same encoding.
func ReportData(spkiDER []byte, policyHash [32]byte, nonce []byte) [64]byte {
	h := sha512.New()
	h.Write([]byte(DomainSeparator))
	k := sha256.Sum256(spkiDER)
	h.Write(k[:])
	h.Write(policyHash[:])
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(nonce)))
	h.Write(n[:])
	h.Write(nonce)
	var out [64]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Provider produces evidence inside the enclave.
type Provider interface {
	// Platform names the platform, such as "sim" or "nitro".
	Platform() string
	// Evidence returns the platform's signed evidence over reportData.
	Evidence(ctx context.Context, reportData [64]byte) ([]byte, error)
}

// Verifier checks evidence of one platform.
type Verifier interface {
	// Platform names the platform whose evidence it checks.
	Platform() string
	// Verify checks evidence and returns what it attests. It must never
	// return claims for evidence whose signature or chain does not verify.
	Verify(evidence []byte, opts VerifyOptions) (*Claims, error)
}

// VerifyOptions tune a verification. The zero value verifies now.
type VerifyOptions struct {
	// Now is the time at which certificates and tokens must be valid;
	// zero means time.Now().
	Now time.Time
	// Collateral is the vendor's verification collateral, where the
	// platform needs it and it is supplied offline (for SGX and TDX: one
	// JSON file of Intel's quote-verification collateral fields); nil
	// means the verifier's built-in or cached collateral, if it has any.
	Collateral []byte
	// Key is endorsement key material the evidence chains to and that is
	// not built in, DER or PEM (for SEV-SNP the VCEK or VLEK certificate;
	// for PSA the initial attestation public key); nil if none.
	Key []byte
	// Product names the processor family where the platform has several
	// roots (for SEV-SNP: "milan", "genoa", …); empty means try each.
	Product string
	// AllowDebug accepts evidence from an enclave that runs in debug mode;
	// such an enclave's memory is readable by its host.
	AllowDebug bool
}

// Time returns Now, or the current time if Now is zero.
func (o VerifyOptions) Time() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// Claims is what verified evidence says.
type Claims struct {
	Platform    string
	Measurement []byte
	ReportData  [64]byte
	// Simulated is true for evidence that no hardware stands behind.
	Simulated bool
	// Extra are further measurements a policy may pin, named as in the
	// policy's runtimes[].extra (such as "pcr1" for nitro); nil if none.
	Extra map[string][]byte
	// Details are further platform claims, printable, for debugging.
	Details map[string]string
	// TCB are the platform's TCB components by the names of
	// platform.Spec.TCB (such as "microcode" for snp), which a
	// policy's minimum_tcb is checked against; nil if the platform has
	// none.
	TCB map[string]int
	// Collateral says how fresh the vendor collateral was that the
	// verifier used (such as Intel's TCB info); nil if none.
	Collateral []Freshness
}

// Errors callers branch on. Wrapped errors say more.
var (
	// ErrUnsupportedPlatform: no verifier is known for the platform, or
	// evidence is of another platform than its verifier's.
	ErrUnsupportedPlatform = errors.New("unsupported attestation platform")
	// ErrBadEvidence: evidence is malformed or its signature does not verify.
	ErrBadEvidence = errors.New("evidence does not verify")
	// ErrBinding: the report data does not bind the expected key, policy and nonce.
	ErrBinding = errors.New("evidence is bound to another key, policy or nonce")
	// ErrUntrustedMeasurement: the measurement is not listed in the policy for the platform.
	ErrUntrustedMeasurement = errors.New("measurement not trusted by the policy")
	// ErrPolicyMismatch: the certificate was issued for another policy.
	ErrPolicyMismatch = errors.New("enclave runs another policy")
	// ErrBadChain: the chain does not verify to the policy's PAS CA at the time.
	ErrBadChain = errors.New("enclave certificate chain does not verify")
	// ErrSimulated: simulated evidence where the policy does not allow it.
	ErrSimulated = errors.New("simulated platform not allowed by the policy")
	// ErrNoIdentity: the certificate carries no (or a malformed) enclave identity extension.
	ErrNoIdentity = errors.New("certificate carries no enclave identity")
)
