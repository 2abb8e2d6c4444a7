package paswire

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/policy"
)

// NewRequest builds, inside the enclave, the attestation request for the
// TLS key key: a CSR for it, and evidence from prov over the report data
// binding the key, the policy (its exact bytes) and the nonce. A nil rand
// means crypto/rand.
func NewRequest(ctx context.Context, prov attest.Provider, key crypto.Signer, policyBytes, nonce []byte, rnd io.Reader) (AttestRequest, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	csr, err := x509.CreateCertificateRequest(rnd, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "Truce enclave"},
	}, key)
	if err != nil {
		return AttestRequest{}, fmt.Errorf("making the enclave CSR: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return AttestRequest{}, fmt.Errorf("encoding the enclave key: %w", err)
	}
	rd := attest.ReportData(spki, policy.Hash(policyBytes), nonce)
	ev, err := prov.Evidence(ctx, rd)
	if err != nil {
		return AttestRequest{}, fmt.Errorf("getting %s evidence: %w", prov.Platform(), err)
	}
	return AttestRequest{Platform: prov.Platform(), Evidence: ev, CSR: csr, Nonce: nonce, Policy: policyBytes}, nil
}
