package psa

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/veraison/psatoken"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/platform"
)

// Platform is the name of this platform in policies and evidence.
const Platform = platform.PSA

// RuntimeComponent is the software-component measurement type of the Truce
// runtime in a token.
const RuntimeComponent = "truce-runtime"

// MaxTokenSize bounds the tokens the verifier parses.
const MaxTokenSize = 16 << 10

// Errors callers branch on; each wraps attest.ErrBadEvidence.
var (
	// ErrSignature: the token's signature does not verify with the key.
	ErrSignature = fmt.Errorf("%w: psa token signature", attest.ErrBadEvidence)
	// ErrMalformed: not a COSE_Sign1 PSA token with valid claims.
	ErrMalformed = fmt.Errorf("%w: malformed psa token", attest.ErrBadEvidence)
	// ErrLifecycle: the device is not in the secured lifecycle state.
	ErrLifecycle = fmt.Errorf("%w: psa device not secured", attest.ErrBadEvidence)
	// ErrNoKey: no initial attestation key was given to verify with.
	ErrNoKey = fmt.Errorf("%w: no psa attestation key given", attest.ErrBadEvidence)
)

// Verifier checks PSA attestation tokens. The zero value takes the key from
// VerifyOptions.Key.
type Verifier struct {
	// Key is the initial attestation public key; nil means parse
	// VerifyOptions.Key (PEM or DER, a public key or a certificate).
	Key crypto.PublicKey
}

var _ attest.Verifier = Verifier{}

// Platform returns "psa".
func (Verifier) Platform() string { return Platform }

// ParseKey reads a public key from PEM or DER: a SubjectPublicKeyInfo, a
// certificate, or an EC private key (whose public half is used, for TF-M's
// published test key).
func ParseKey(b []byte) (crypto.PublicKey, error) {
	der := b
	if blk, _ := pem.Decode(b); blk != nil {
		der = blk.Bytes
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(der); err == nil {
		return c.PublicKey, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return &k.PublicKey, nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s.Public(), nil
		}
	}
	return nil, errors.New("psa: key is neither a public key, a certificate nor an EC private key (PEM or DER)")
}

// Component is one software component of a token.
type Component struct {
	Type        string
	Version     string
	Measurement []byte
	SignerID    []byte
	Description string
}

// Token is a verified token's claims.
type Token struct {
	Profile          string
	Nonce            []byte
	InstanceID       []byte
	ImplementationID []byte
	Lifecycle        uint16
	ClientID         int32
	BootSeed         []byte
	Certification    string
	VSI              string
	Components       []Component
}

// Parse verifies a token's signature with key and returns its claims.
func Parse(token []byte, key crypto.PublicKey) (*Token, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrMalformed, len(token), MaxTokenSize)
	}
	if key == nil {
		return nil, ErrNoKey
	}
	ev, err := decode(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := ev.Verify(key); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	c := ev.Claims
	t := &Token{}
	t.Profile, _ = c.GetProfile()
	t.Nonce, _ = c.GetNonce()
	t.InstanceID, _ = c.GetInstID()
	t.ImplementationID, _ = c.GetImplID()
	t.Lifecycle, _ = c.GetSecurityLifeCycle()
	t.ClientID, _ = c.GetClientID()
	t.BootSeed, _ = c.GetBootSeed()
	t.Certification, _ = c.GetCertificationReference()
	t.VSI, _ = c.GetVSI()
	sws, _ := c.GetSoftwareComponents()
	for _, sw := range sws {
		var comp Component
		comp.Type, _ = sw.GetMeasurementType()
		comp.Version, _ = sw.GetVersion()
		comp.Measurement, _ = sw.GetMeasurementValue()
		comp.SignerID, _ = sw.GetSignerID()
		comp.Description, _ = sw.GetMeasurementDesc()
		t.Components = append(t.Components, comp)
	}
	return t, nil
}

// decode guards the library against inputs it might not survive.
func decode(token []byte) (ev *psatoken.Evidence, err error) {
	defer func() {
		if r := recover(); r != nil {
			ev, err = nil, fmt.Errorf("token decoder failed: %v", r)
		}
	}()
	return psatoken.DecodeAndValidateEvidenceFromCOSE(token)
}

// Secured reports whether lifecycle is the PSA "secured" state.
func Secured(lifecycle uint16) bool { return lifecycle&0xff00 == 0x3000 }

// Runtime returns the component holding the runtime's measurement: the one
// of type RuntimeComponent, otherwise the last one; ok is false if the token
// lists none.
func (t *Token) Runtime() (c Component, ok bool) {
	if len(t.Components) == 0 {
		return c, false
	}
	for _, c := range t.Components {
		if c.Type == RuntimeComponent {
			return c, true
		}
	}
	return t.Components[len(t.Components)-1], true
}

// Verify checks a token's signature with the key, refuses a device not in
// the secured lifecycle state unless opts.AllowDebug, and returns the
// runtime component's measurement, its signer ID and the implementation ID
// as extra measurements, and the 64-byte nonce as report data (zero, with
// Details "report_data" saying so, for a shorter nonce: such a token never
// matches a binding). Tokens carry no time, so opts.Now is not used.
func (v Verifier) Verify(evidence []byte, opts attest.VerifyOptions) (*attest.Claims, error) {
	key := v.Key
	if key == nil {
		if len(opts.Key) == 0 {
			return nil, fmt.Errorf("%w: give the device's initial attestation public key (truce evidence verify --key FILE)", ErrNoKey)
		}
		k, err := ParseKey(opts.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoKey, err)
		}
		key = k
	}
	if _, ok := key.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: the attestation key must be an ECDSA public key", ErrNoKey)
	}
	t, err := Parse(evidence, key)
	if err != nil {
		return nil, err
	}
	if !Secured(t.Lifecycle) && !opts.AllowDebug {
		return nil, fmt.Errorf("%w: security lifecycle %#04x is not secured (0x30xx); allow debug only for testing", ErrLifecycle, t.Lifecycle)
	}
	rt, ok := t.Runtime()
	if !ok {
		return nil, fmt.Errorf("%w: no software components, so no measurement", ErrMalformed)
	}
	c := &attest.Claims{
		Platform:    Platform,
		Measurement: bytes.Clone(rt.Measurement),
		Extra: map[string][]byte{
			platform.PSAImplementation: bytes.Clone(t.ImplementationID),
		},
		Details: map[string]string{
			"profile":           t.Profile,
			"instance_id":       hex.EncodeToString(t.InstanceID),
			"implementation_id": hex.EncodeToString(t.ImplementationID),
			"lifecycle":         fmt.Sprintf("%#04x", t.Lifecycle),
			"nonce":             hex.EncodeToString(t.Nonce),
			"runtime_component": rt.Type + " " + rt.Version,
			"client_id":         strconv.Itoa(int(t.ClientID)),
		},
	}
	if len(rt.SignerID) > 0 {
		c.Extra[platform.PSASignerID] = bytes.Clone(rt.SignerID)
		c.Details["signer_id"] = hex.EncodeToString(rt.SignerID)
	}
	if t.VSI != "" {
		c.Details["verification_service"] = t.VSI
	}
	if t.Certification != "" {
		c.Details["certification"] = t.Certification
	}
	for i, comp := range t.Components {
		c.Details["sw"+strconv.Itoa(i)] = strings.TrimSpace(fmt.Sprintf("%s %s measurement=%x signer=%x %s",
			comp.Type, comp.Version, comp.Measurement, comp.SignerID, comp.Description))
	}
	if len(t.Nonce) == 64 {
		copy(c.ReportData[:], t.Nonce)
		c.Details["report_data"] = "nonce"
	} else {
		c.Details["report_data"] = fmt.Sprintf("none (nonce is %d bytes; 64 needed)", len(t.Nonce))
	}
	return c, nil
}
