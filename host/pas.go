package host

import (
	"context"
	"crypto/x509"

	"github.com/truce-project/truce/pas"
)

// FromPAS makes a pas.Client the host's AttestationService.
func FromPAS(c *pas.Client) AttestationService { return pasService{c} }

type pasService struct{ c *pas.Client }

func (p pasService) Nonce(ctx context.Context) ([]byte, error) { return p.c.Nonce(ctx) }

func (p pasService) Attest(ctx context.Context, r AttestRequest) ([]*x509.Certificate, error) {
	return p.c.Attest(ctx, pas.AttestRequest{Platform: r.Platform, Evidence: r.Evidence, CSR: r.CSR, Nonce: r.Nonce, Policy: r.Policy})
}
