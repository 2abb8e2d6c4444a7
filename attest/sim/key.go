package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadPublic reads a device public key written by the device's WritePublic
// (internal/provider/sim).
func LoadPublic(path string) (*ecdsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading simulated device public key: %w", err)
	}
	return ParsePublicPEM(b)
}

// ParsePublicPEM parses a PEM "PUBLIC KEY" holding a P-256 key.
func ParsePublicPEM(b []byte) (*ecdsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM \"PUBLIC KEY\"")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing device public key: %w", err)
	}
	ek, ok := k.(*ecdsa.PublicKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("the simulated device key must be ECDSA P-256")
	}
	return ek, nil
}

// UEID returns the instance id of the device with public key pub: the EAT
// UEID type 0x01 (random) followed by SHA-256 of the key's SPKI DER.
func UEID(pub *ecdsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	h := sha256.Sum256(der)
	return append([]byte{0x01}, h[:]...)
}
