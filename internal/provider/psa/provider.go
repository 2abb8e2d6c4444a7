package psa

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"

	"github.com/veraison/go-cose"
	"github.com/veraison/psatoken"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/psa"
	"github.com/truce-project/truce/platform"
)

// TokenSource returns an initial attestation token over a challenge, as
// psa_initial_attest_get_token does on a PSA device. A TEE client (TF-M's
// non-secure interface, an OP-TEE pseudo-TA) implements it on hardware;
// SoftwareIAK implements it with a key in memory.
type TokenSource interface {
	Token(ctx context.Context, challenge []byte) ([]byte, error)
}

// Provider gets PSA tokens over the runtime's report data from a
// TokenSource.
type Provider struct {
	// Source makes the tokens; required.
	Source TokenSource
}

var _ attest.Provider = Provider{}

// Platform returns "psa".
func (Provider) Platform() string { return platform.PSA }

// Evidence asks the source for a token whose nonce is reportData.
func (p Provider) Evidence(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if p.Source == nil {
		return nil, errors.New("psa: no token source configured")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tok, err := p.Source.Token(ctx, reportData[:])
	if err != nil {
		return nil, fmt.Errorf("psa: getting a token: %w", err)
	}
	return tok, nil
}

// SoftwareIAK is a TokenSource that signs PSA profile 2 tokens with an
// initial attestation key held in memory, as Veracruz's Linux back-end did.
// No hardware stands behind its tokens: whoever holds the key can make
// them, so a policy should trust its measurements only for testing.
type SoftwareIAK struct {
	// Key is the ECDSA P-256 initial attestation key; required.
	Key *ecdsa.PrivateKey
	// ImplementationID is 32 bytes naming the implementation.
	ImplementationID []byte
	// InstanceID is the 33-byte UEID (0x01 ‖ 32 bytes); nil means derived
	// from the key.
	InstanceID []byte
	// Lifecycle is the security lifecycle; zero means secured (0x3000).
	Lifecycle uint16
	// ClientID is the caller's partition ID; zero means -1 (the first
	// non-secure caller, as TF-M reports callers from the normal world).
	ClientID int32
	// Components are the software components; the runtime's should have
	// type RuntimeComponent. At least one is required.
	Components []psa.Component
}

// Token makes and signs a token over challenge (32, 48 or 64 bytes).
func (s SoftwareIAK) Token(ctx context.Context, challenge []byte) ([]byte, error) {
	if s.Key == nil || s.Key.Curve != elliptic.P256() {
		return nil, errors.New("psa: software IAK needs an ECDSA P-256 key")
	}
	c, err := psatoken.NewClaims(psatoken.Profile2Name)
	if err != nil {
		return nil, err
	}
	inst := s.InstanceID
	if inst == nil {
		pub, err := s.Key.PublicKey.ECDH()
		if err != nil {
			return nil, err
		}
		h := crypto.SHA256.New()
		h.Write(pub.Bytes())
		inst = append([]byte{0x01}, h.Sum(nil)...)
	}
	lc := s.Lifecycle
	if lc == 0 {
		lc = 0x3000
	}
	client := s.ClientID
	if client == 0 {
		client = -1
	}
	var sws []psatoken.ISwComponent
	for _, comp := range s.Components {
		sw := &psatoken.SwComponent{}
		if err := errors.Join(sw.SetMeasurementType(comp.Type), sw.SetMeasurementValue(comp.Measurement),
			sw.SetSignerID(comp.SignerID)); err != nil {
			return nil, fmt.Errorf("psa: software component %q: %w", comp.Type, err)
		}
		if comp.Version != "" {
			_ = sw.SetVersion(comp.Version)
		}
		if comp.Description != "" {
			_ = sw.SetMeasurementDesc(comp.Description)
		}
		sws = append(sws, sw)
	}
	if err := errors.Join(c.SetNonce(challenge), c.SetInstID(inst), c.SetImplID(s.ImplementationID),
		c.SetSecurityLifeCycle(lc), c.SetSoftwareComponents(sws), c.SetClientID(client)); err != nil {
		return nil, fmt.Errorf("psa: claims: %w", err)
	}
	var ev psatoken.Evidence
	if err := ev.SetClaims(c); err != nil {
		return nil, fmt.Errorf("psa: claims: %w", err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmES256, s.Key)
	if err != nil {
		return nil, err
	}
	return ev.ValidateAndSign(signer)
}
