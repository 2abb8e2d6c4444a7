package host

import (
	"context"
	"crypto/x509"
	"errors"
	"time"

	"github.com/truce-project/truce/internal/paswire"
)

// FromPAS makes a paswire.Client the host's AttestationService.
func FromPAS(c *paswire.Client) AttestationService { return pasService{c} }

type pasService struct{ c *paswire.Client }

func (p pasService) Nonce(ctx context.Context) ([]byte, error) { return p.c.Nonce(ctx) }

func (p pasService) Attest(ctx context.Context, r AttestRequest) ([]*x509.Certificate, error) {
	return p.c.Attest(ctx, paswire.AttestRequest{Platform: r.Platform, Evidence: r.Evidence, CSR: r.CSR, Nonce: r.Nonce, Policy: r.Policy})
}

// maxThrottled bounds how long a first attestation goes on waiting while
// the attestation service answers busy or rate-limited.
const maxThrottled = 10 * time.Minute

// maxRetryDelay bounds how long a refused attestation waits for the
// attestation service's Retry-After.
const maxRetryDelay = 30 * time.Second

// retryDelay is how long to wait before attesting again after err: what
// the attestation service asked for (Retry-After, when busy or rate
// limited), at least a second and at most maxRetryDelay.
func retryDelay(err error) time.Duration {
	var p *paswire.ProblemError
	if errors.As(err, &p) && p.RetryAfter > time.Second {
		return min(p.RetryAfter, maxRetryDelay)
	}
	return time.Second
}
