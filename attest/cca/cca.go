// Package cca verifies Arm CCA attestation tokens: the CBOR collection of a
// platform token, signed by the platform's CCA attestation key (CPAK), and a
// realm token, signed by the realm attestation key (RAK) the platform token
// binds (its nonce is the hash of the RAK).
//
// Verify checks both COSE signatures, the binding, and the claims' form
// (with veraison/ccatoken), refuses a platform whose security lifecycle is
// not "secured" unless AllowDebug, and returns the realm initial
// measurement (RIM) as the measurement, the realm challenge as the report
// data, and REM0–3 and the realm personalization value (rpv) as the extra
// measurements a policy may pin. The CPAK public key is not built in: it is
// endorsement material the verifier must be given (VerifyOptions.Key).
//
// It must never return claims for a token whose signatures or binding do
// not verify, and never panic on any input.
package cca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"github.com/veraison/ccatoken"
	ccaplatform "github.com/veraison/ccatoken/platform"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/platform"
)

// Platform is the name of the Arm CCA platform in policies and evidence.
const Platform = platform.CCA

// Errors callers branch on; each is returned wrapped together with
// attest.ErrBadEvidence.
var (
	// ErrNoKey: the platform's CPAK public key was not supplied.
	ErrNoKey = errors.New("no CCA platform attestation key given")
	// ErrDebug: the platform's security lifecycle is not "secured"
	// (debug, provisioning, decommissioned or unknown).
	ErrDebug = errors.New("CCA platform is not in the secured lifecycle state")
)

// Verifier checks CCA tokens. The zero value is ready to use, and trusts
// no platform key but the one each verification is given.
type Verifier struct {
	// Keys are CPAK public keys of trusted platforms, tried when
	// VerifyOptions.Key is empty: an attestation service's store of the
	// platforms its vendors endorse.
	Keys []crypto.PublicKey
}

// NewVerifier returns a Verifier.
func NewVerifier() *Verifier { return &Verifier{} }

// Platform returns "cca".
func (*Verifier) Platform() string { return Platform }

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: cca: %s", attest.ErrBadEvidence, fmt.Sprintf(format, args...))
}

// Verify checks evidence, a CCA token (tagged CBOR collection), against the
// CPAK public key in opts.Key (PEM or DER, SubjectPublicKeyInfo), or else
// against each of the Verifier's Keys.
func (v *Verifier) Verify(evidence []byte, opts attest.VerifyOptions) (c *attest.Claims, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, bad("malformed token (%v)", r)
		}
	}()
	keys := v.Keys
	if len(opts.Key) > 0 {
		cpak, err := parseKey(opts.Key)
		if err != nil {
			return nil, bad("platform attestation key: %v", err)
		}
		keys = []crypto.PublicKey{cpak}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: cca: %w: give the platform's CPAK public key (PEM or DER), as the platform's vendor endorses it", attest.ErrBadEvidence, ErrNoKey)
	}
	ev, err := ccatoken.DecodeAndValidateEvidenceFromCBOR(evidence)
	if err != nil {
		return nil, bad("malformed token: %v", err)
	}
	var verr error
	for _, k := range keys {
		if verr = ev.Verify(k); verr == nil {
			return claims(ev, opts.AllowDebug)
		}
	}
	if len(keys) > 1 {
		return nil, bad("no trusted platform key verifies the token (%d tried; last: %v)", len(keys), verr)
	}
	return nil, bad("%v", verr)
}

// parseKey reads an ECDSA public key, PEM or DER SubjectPublicKeyInfo.
func parseKey(b []byte) (crypto.PublicKey, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	k, err := x509.ParsePKIXPublicKey(bytes.TrimSpace(b))
	if err != nil {
		return nil, fmt.Errorf("not a PEM or DER public key: %w", err)
	}
	if _, ok := k.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("key is %T, want ECDSA", k)
	}
	return k, nil
}

func claims(ev *ccatoken.Evidence, allowDebug bool) (*attest.Claims, error) {
	p, r := ev.PlatformClaims, ev.RealmClaims
	lc, err := p.GetSecurityLifeCycle()
	if err != nil {
		return nil, bad("platform token lacks a security lifecycle: %v", err)
	}
	state := ccaplatform.LifeCycleToState(lc)
	if state != ccaplatform.StateSecured && !allowDebug {
		return nil, fmt.Errorf("%w: cca: %w: lifecycle %#04x (%s): the platform's security may be bypassed; use a secured platform, or accept with --allow-debug for testing only",
			attest.ErrBadEvidence, ErrDebug, lc, state)
	}
	rim, err := r.GetInitialMeasurement()
	if err != nil {
		return nil, bad("realm token lacks the initial measurement: %v", err)
	}
	challenge, err := r.GetChallenge()
	if err != nil || len(challenge) != 64 {
		return nil, bad("realm challenge is %d bytes, want 64 (%v)", len(challenge), err)
	}
	rpv, err := r.GetPersonalizationValue()
	if err != nil {
		return nil, bad("realm token lacks the personalization value: %v", err)
	}
	rems, err := r.GetExtensibleMeasurements()
	if err != nil || len(rems) != 4 {
		return nil, bad("realm token has %d extensible measurements, want 4 (%v)", len(rems), err)
	}
	c := &attest.Claims{
		Platform:    Platform,
		Measurement: bytes.Clone(rim),
		Extra:       map[string][]byte{"rpv": bytes.Clone(rpv)},
		Details: map[string]string{
			"lifecycle": fmt.Sprintf("%#04x (%s)", lc, state),
			"rim":       hex.EncodeToString(rim),
			"rpv":       hex.EncodeToString(rpv),
		},
	}
	copy(c.ReportData[:], challenge)
	for i, m := range rems {
		name := fmt.Sprintf("rem%d", i)
		c.Extra[name] = bytes.Clone(m)
		c.Details[name] = hex.EncodeToString(m)
	}
	str := func(name string, v string, err error) {
		if err == nil {
			c.Details[name] = v
		}
	}
	byt := func(name string, v []byte, err error) {
		if err == nil {
			c.Details[name] = hex.EncodeToString(v)
		}
	}
	v, err := r.GetProfile()
	str("realm_profile", v, err)
	v, err = r.GetHashAlgID()
	str("realm_hash_alg", v, err)
	v, err = p.GetProfile()
	str("platform_profile", v, err)
	v, err = p.GetVSI()
	str("verification_service", v, err)
	v, err = p.GetHashAlgID()
	str("platform_hash_alg", v, err)
	b, err := p.GetImplID()
	byt("implementation_id", b, err)
	b, err = p.GetInstID()
	byt("instance_id", b, err)
	b, err = p.GetConfig()
	byt("platform_config", b, err)
	if sws, err := p.GetSoftwareComponents(); err == nil {
		var parts []string
		for _, sw := range sws {
			typ, _ := sw.GetMeasurementType()
			val, _ := sw.GetMeasurementValue()
			ver, _ := sw.GetVersion()
			parts = append(parts, fmt.Sprintf("%s %s %s", typ, ver, hex.EncodeToString(val)))
		}
		c.Details["platform_sw_components"] = strings.Join(parts, "; ")
	}
	return c, nil
}
