package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/truce-project/truce/internal/atomicfile"
)

// Device is the simulated attestation device: a P-256 key standing where a
// hardware root of trust would. Anyone holding its key file can forge
// evidence; that is why sim is accepted only when explicitly allowed.
type Device struct {
	key *ecdsa.PrivateKey
}

// NewDevice makes a device with a fresh key from rand (nil: crypto/rand).
func NewDevice(r io.Reader) (*Device, error) {
	if r == nil {
		r = rand.Reader
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), r)
	if err != nil {
		return nil, fmt.Errorf("generating simulated device key: %w", err)
	}
	return &Device{key: k}, nil
}

// LoadDevice reads a device key written by WriteKey (PKCS#8 PEM, P-256).
func LoadDevice(keyFile string) (*Device, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading simulated device key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM \"PRIVATE KEY\" (write one with \"truce pas init\")", keyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: the simulated device key must be ECDSA P-256", keyFile)
	}
	return &Device{key: ek}, nil
}

// Public returns the device's public key, which verifiers are configured with.
func (d *Device) Public() *ecdsa.PublicKey { return &d.key.PublicKey }

// WriteKey writes the private key as PKCS#8 PEM with mode 0600; it refuses
// to overwrite an existing file.
func (d *Device) WriteKey(path string) error {
	der, err := x509.MarshalPKCS8PrivateKey(d.key)
	if err != nil {
		return fmt.Errorf("encoding simulated device key: %w", err)
	}
	return atomicfile.WriteNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

// WritePublic writes the public key as PKIX PEM; it refuses to overwrite.
func (d *Device) WritePublic(path string) error {
	der, err := x509.MarshalPKIXPublicKey(d.Public())
	if err != nil {
		return fmt.Errorf("encoding simulated device public key: %w", err)
	}
	return atomicfile.WriteNew(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}
