package pas

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"github.com/truce-project/truce/internal/paswire"
	"time"
)

// KeyFingerprint is the SHA-256 of an enclave key's DER
// SubjectPublicKeyInfo: what names one enclave instance, since an enclave
// makes its key when it starts and keeps it, through renewals, until it
// stops. It is what curl's --pinnedpubkey sha256//… pins (in base64).
func KeyFingerprint(cert *x509.Certificate) [32]byte {
	return sha256.Sum256(cert.RawSubjectPublicKeyInfo)
}

// Instance is one enclave instance the service certified for a policy:
// every certificate it issued for one enclave key.
type Instance struct {
	// PolicyHash is the policy the certificates bind (the first of its
	// chain).
	PolicyHash [32]byte
	// Key is the KeyFingerprint of the enclave key.
	Key [32]byte
	// Platform, Measurement and Simulated are what the first certificate
	// attests.
	Platform    string
	Measurement []byte
	Simulated   bool
	// First and Last are when the first and the last certificate were
	// issued; Certificates counts them (1 + renewals).
	First, Last  time.Time
	Certificates int
	// FirstSeq and LastSeq are their log entries.
	FirstSeq, LastSeq int64
}

// KeyHex is the key fingerprint in hex.
func (i Instance) KeyHex() string { return hex.EncodeToString(i.Key[:]) }

// Instances groups log entries into enclave instances, in the order each
// was first certified. With policy non-nil only that policy's are kept.
type Instances struct {
	policy *[32]byte
	list   []*Instance
	byKey  map[[64]byte]*Instance
}

// NewInstances starts an empty grouping; policy nil keeps every policy.
func NewInstances(policy *[32]byte) *Instances {
	return &Instances{policy: policy, byKey: map[[64]byte]*Instance{}}
}

// Add counts entry e.
func (is *Instances) Add(e Entry) error {
	if is.policy != nil && e.Identity.PolicyHash != *is.policy {
		return nil
	}
	cert, err := x509.ParseCertificate(e.Cert)
	if err != nil {
		return fmt.Errorf("%w: entry %d: certificate does not parse: %v", ErrLogTampered, e.Seq, err)
	}
	var k [64]byte
	copy(k[:32], e.Identity.PolicyHash[:])
	fp := KeyFingerprint(cert)
	copy(k[32:], fp[:])
	in, ok := is.byKey[k]
	if !ok {
		in = &Instance{PolicyHash: e.Identity.PolicyHash, Key: fp, Platform: e.Identity.Platform,
			Measurement: bytes.Clone(e.Identity.Measurement), Simulated: e.Identity.Simulated,
			First: e.Time, FirstSeq: e.Seq}
		is.byKey[k] = in
		is.list = append(is.list, in)
	}
	in.Last, in.LastSeq = e.Time, e.Seq
	in.Certificates++
	return nil
}

// List returns the instances in the order each was first certified.
func (is *Instances) List() []Instance {
	out := make([]Instance, len(is.list))
	for i, in := range is.list {
		out[i] = *in
	}
	return out
}

// InstancesIn reads and verifies the log of the service in dir, kept in
// database (see Config.Database), and returns the enclave instances it
// certified: for policy only, or for every policy if policy is nil.
func InstancesIn(ctx context.Context, dir, database string, policy *[32]byte) ([]Instance, error) {
	is := NewInstances(policy)
	if err := ReadLogIn(ctx, dir, database, is.Add); err != nil {
		return nil, err
	}
	return is.List(), nil
}

// secondInstanceError says which instance holds the policy's one place.
func secondInstanceError(first Instance, want [32]byte) error {
	return fmt.Errorf("%w: this policy (attestation.single_instance) allows one enclave, and the service certified enclave key sha256:%s first at %s (log entry %d); it refuses key sha256:%s. A restarted enclave is a new instance: agree on a new policy to start afresh",
		paswire.ErrSecondInstance, first.KeyHex(), first.First.UTC().Format(time.RFC3339), first.FirstSeq, hex.EncodeToString(want[:]))
}
