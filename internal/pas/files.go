package pas

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/atomicfile"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
)

// Files of a service directory.
const (
	CACertFile    = "ca.crt"     // the CA certificate (PEM); pin it in policies
	CAKeyFile     = "ca.key"     // the CA private key (PKCS#8 PEM, mode 0600)
	DeviceKeyFile = "device.key" // the simulated device's private key (mode 0600)
	DevicePubFile = "device.pub" // the simulated device's public key (PEM)
	LogFile       = "log.db"     // the issuance log (SQLite)
)

// CALifetime is how long the CA made by Init is valid.
const CALifetime = 5 * 365 * 24 * time.Hour

// ErrExists is returned by Init for a directory that already holds a service.
var ErrExists = errors.New("attestation service directory already initialised")

// ErrNotInitialised is returned by Open and VerifyLog for a directory
// without a service (run Init first).
var ErrNotInitialised = errors.New("not an attestation service directory")

// Init creates a service in dir (made if missing): a self-signed P-256 CA
// (ca.crt, ca.key with mode 0600), the simulated device's key pair
// (device.key with mode 0600, device.pub) and an empty issuance log. It
// refuses, with ErrExists, a directory that already holds any of them. A
// nil rand means crypto/rand.
func Init(dir string, rnd io.Reader) error {
	return InitAt(dir, rnd, time.Now())
}

// InitAt is Init with the clock injected: the CA is valid from now.
func InitAt(dir string, rnd io.Reader, now time.Time) error {
	return InitWithKey(dir, rnd, now, nil)
}

// InitWithKey is InitAt with the CA key given: with caKey non-nil (a key
// in an HSM, see package pas/hsm) the CA certificate is made for it and no
// ca.key is written; give the same key to Open as Config.CAKey.
func InitWithKey(dir string, rnd io.Reader, now time.Time, caKey crypto.Signer) error {
	if rnd == nil {
		rnd = rand.Reader
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	for _, f := range []string{CACertFile, CAKeyFile, DeviceKeyFile, DevicePubFile, LogFile} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%w: %s exists", ErrExists, filepath.Join(dir, f))
		}
	}
	var keyPEM []byte
	if caKey == nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
		if err != nil {
			return fmt.Errorf("generating the CA key: %w", err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return fmt.Errorf("encoding the CA key: %w", err)
		}
		caKey, keyPEM = key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	}
	serial, err := randomSerial(rnd)
	if err != nil {
		return err
	}
	spki, err := x509.MarshalPKIXPublicKey(caKey.Public())
	if err != nil {
		return fmt.Errorf("encoding the CA key: %w", err)
	}
	ski := sha256.Sum256(spki)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Truce attestation service CA", Organization: []string{"Truce"}},
		NotBefore:             now.Add(-time.Minute).UTC().Truncate(time.Second),
		NotAfter:              now.Add(CALifetime).UTC().Truncate(time.Second),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId:          ski[:20],
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		return fmt.Errorf("signing the CA certificate: %w", err)
	}
	dev, err := simprovider.NewDevice(rnd)
	if err != nil {
		return err
	}
	// The key first: a crash leaves no certificate without its key.
	if keyPEM != nil {
		if err := atomicfile.WriteNew(filepath.Join(dir, CAKeyFile), keyPEM, 0o600); err != nil {
			return err
		}
	}
	if err := atomicfile.WriteNew(filepath.Join(dir, CACertFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	if err := dev.WriteKey(filepath.Join(dir, DeviceKeyFile)); err != nil {
		return err
	}
	if err := dev.WritePublic(filepath.Join(dir, DevicePubFile)); err != nil {
		return err
	}
	l, err := OpenStore(context.Background(), dir, "")
	if err != nil {
		return err
	}
	return l.Close()
}

func randomSerial(rnd io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // always 16 bytes long, never zero
	return new(big.Int).SetBytes(b), nil
}

func readCACert(dir string) (*x509.Certificate, error) {
	p := filepath.Join(dir, CACertFile)
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s (run \"truce pas init --dir %s\")", ErrNotInitialised, dir, CACertFile, dir)
	}
	c, err := identity.ReadCertificatePEM(p)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate: %w", err)
	}
	return c, nil
}

// loadCA reads the CA certificate of dir and its key: signer if given
// (it must be the certificate's), else dir/ca.key.
func loadCA(dir string, signer crypto.Signer) (*x509.Certificate, crypto.Signer, error) {
	c, err := readCACert(dir)
	if err != nil {
		return nil, nil, err
	}
	if signer != nil {
		if pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(c.PublicKey) {
			return nil, nil, fmt.Errorf("the CA key given is not the key of %s", filepath.Join(dir, CACertFile))
		}
		return c, signer, nil
	}
	kp := filepath.Join(dir, CAKeyFile)
	fi, err := os.Stat(kp)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("%s is readable by others (mode %v): run \"chmod 600 %s\"", kp, fi.Mode().Perm(), kp)
	}
	b, err := os.ReadFile(kp)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the CA key: %w", err)
	}
	k, err := identity.ParseKeyPEM(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", kp, err)
	}
	if !k.PublicKey.Equal(c.PublicKey) {
		return nil, nil, fmt.Errorf("%s is not the key of %s", kp, filepath.Join(dir, CACertFile))
	}
	return c, k, nil
}
