package sim

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/veraison/go-cose"

	"github.com/truce-project/truce/attest"
	simattest "github.com/truce-project/truce/attest/sim"
)

// ProviderOptions tune a Provider; the zero value works.
type ProviderOptions struct {
	Rand io.Reader        // nil: crypto/rand
	Now  func() time.Time // nil: time.Now
}

type provider struct {
	dev  *Device
	meas []byte
	opts ProviderOptions
}

// NewProvider returns the simulated platform's evidence provider: it signs
// PSA-style tokens (attest/sim.TokenClaims) with the device key,
// reporting measurement as the runtime's software component.
func NewProvider(d *Device, measurement []byte) attest.Provider {
	return NewProviderWith(d, measurement, ProviderOptions{})
}

// NewProviderWith is NewProvider with injected randomness and clock.
func NewProviderWith(d *Device, measurement []byte, o ProviderOptions) attest.Provider {
	return &provider{dev: d, meas: append([]byte(nil), measurement...), opts: o}
}

func (p *provider) Platform() string { return attest.SimPlatform }

func (p *provider) Evidence(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now
	if p.opts.Now != nil {
		now = p.opts.Now
	}
	r := p.opts.Rand
	if r == nil {
		r = rand.Reader
	}
	payload, err := simattest.TokenClaims(reportData, p.dev.Public(), p.meas, now())
	if err != nil {
		return nil, err
	}
	s, err := cose.NewSigner(cose.AlgorithmES256, p.dev.key)
	if err != nil {
		return nil, fmt.Errorf("simulated device signer: %w", err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelContentType] = simattest.ContentType
	msg.Payload = payload
	if err := msg.Sign(r, nil, s); err != nil {
		return nil, fmt.Errorf("signing simulated token: %w", err)
	}
	out, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("encoding simulated token: %w", err)
	}
	return out, nil
}
