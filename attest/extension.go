package attest

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"maps"
	"slices"
)

// ExtensionOID identifies the enclave identity extension:
// 1.2.840.113556.1.8000.2554.23530.64042.36774.18900.43280.5985075.10968220.
//
// It is derived, without registration, from the UUID
// 5beafa2a-8fa6-49d4-a910-5b5333a75c9c (as the OID 2.25.122179819055765619362184448154330946716)
// by the GUID-to-OID scheme under 1.2.840.113556.1.8000.2554: the UUID's hex
// digits split 4-4-4-4-4-6-6 and written in decimal. The 2.25 form itself
// cannot be used: Go's X.509 parser refuses any certificate with an extension
// OID arc of 2^31 or more, so TLS peers would reject the certificate.
var ExtensionOID = asn1.ObjectIdentifier{1, 2, 840, 113556, 1, 8000, 2554, 23530, 64042, 36774, 18900, 43280, 5985075, 10968220}

// UUIDOID is the 2.25 form of the UUID ExtensionOID is derived from, for
// documentation.
const UUIDOID = "2.25.122179819055765619362184448154330946716"

// Identity is what the extension carries: what runs in the enclave whose key
// the certificate certifies.
type Identity struct {
	Platform    string
	Measurement []byte
	PolicyHash  [32]byte
	Simulated   bool
	// TCB are the platform's TCB components as the attestation service
	// read them from the evidence (see platform.Spec.TCB), so that
	// clients can check the policy's minimum TCB; nil if the platform has
	// none.
	TCB map[string]int
}

// identityASN1 is the DER form:
//
//	EnclaveIdentity ::= SEQUENCE {
//	    version     INTEGER (1),
//	    platform    UTF8String,
//	    measurement OCTET STRING,
//	    policyHash  OCTET STRING (SIZE(32)),
//	    simulated   BOOLEAN,
//	    tcb         [0] EXPLICIT SEQUENCE OF TCBComponent OPTIONAL }
//	TCBComponent ::= SEQUENCE {
//	    name        UTF8String,
//	    svn         INTEGER (0..65535) }
//
// The tcb components are sorted by name, each name once; the field is left
// out when there are none, so certificates of platforms without TCB
// components encode as before it existed.
type identityASN1 struct {
	Version     int
	Platform    string `asn1:"utf8"`
	Measurement []byte
	PolicyHash  []byte
	Simulated   bool
	TCB         []tcbASN1 `asn1:"optional,omitempty,explicit,tag:0"`
}

type tcbASN1 struct {
	Name string `asn1:"utf8"`
	SVN  int
}

// maxTCB bounds the TCB components of an identity.
const maxTCB = 64

// Extension encodes id as a non-critical X.509 extension.
func (id Identity) Extension() (pkix.Extension, error) {
	if id.Platform == "" || len(id.Measurement) == 0 {
		return pkix.Extension{}, fmt.Errorf("enclave identity needs a platform and a measurement")
	}
	if len(id.TCB) > maxTCB {
		return pkix.Extension{}, fmt.Errorf("enclave identity has %d TCB components, at most %d", len(id.TCB), maxTCB)
	}
	var tcb []tcbASN1
	for _, name := range slices.Sorted(maps.Keys(id.TCB)) {
		v := id.TCB[name]
		if name == "" || v < 0 || v > 0xffff {
			return pkix.Extension{}, fmt.Errorf("enclave identity TCB component %q = %d: need a name and 0 to 65535", name, v)
		}
		tcb = append(tcb, tcbASN1{name, v})
	}
	der, err := asn1.Marshal(identityASN1{1, id.Platform, id.Measurement, id.PolicyHash[:], id.Simulated, tcb})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("encoding enclave identity: %w", err)
	}
	return pkix.Extension{Id: ExtensionOID, Value: der}, nil
}

// ParseIdentity decodes the extension's value. It never panics on
// untrusted bytes.
func ParseIdentity(der []byte) (*Identity, error) {
	var a identityASN1
	rest, err := asn1.Unmarshal(der, &a)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoIdentity, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrNoIdentity, len(rest))
	}
	if a.Version != 1 {
		return nil, fmt.Errorf("%w: version %d, want 1", ErrNoIdentity, a.Version)
	}
	if len(a.PolicyHash) != 32 || a.Platform == "" || len(a.Measurement) == 0 {
		return nil, fmt.Errorf("%w: platform, measurement or 32-byte policy hash missing", ErrNoIdentity)
	}
	id := &Identity{Platform: a.Platform, Measurement: a.Measurement, Simulated: a.Simulated}
	copy(id.PolicyHash[:], a.PolicyHash)
	if len(a.TCB) > maxTCB {
		return nil, fmt.Errorf("%w: %d TCB components, at most %d", ErrNoIdentity, len(a.TCB), maxTCB)
	}
	for i, c := range a.TCB {
		if c.Name == "" || c.SVN < 0 || c.SVN > 0xffff || i > 0 && c.Name <= a.TCB[i-1].Name {
			return nil, fmt.Errorf("%w: TCB component %d (%q = %d) is empty, out of range or out of order", ErrNoIdentity, i, c.Name, c.SVN)
		}
		if id.TCB == nil {
			id.TCB = map[string]int{}
		}
		id.TCB[c.Name] = c.SVN
	}
	return id, nil
}

// IdentityOf returns the identity the certificate's extension carries. A
// certificate with no such extension, or with it twice, is an error wrapping
// ErrNoIdentity.
func IdentityOf(cert *x509.Certificate) (*Identity, error) {
	var found *Identity
	for _, e := range cert.Extensions {
		if !e.Id.Equal(ExtensionOID) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: extension present twice", ErrNoIdentity)
		}
		id, err := ParseIdentity(e.Value)
		if err != nil {
			return nil, err
		}
		found = id
	}
	if found == nil {
		return nil, ErrNoIdentity
	}
	return found, nil
}
