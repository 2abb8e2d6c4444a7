// Package identity makes and loads the identities of Truce's parties: a
// P-256 key and a self-signed X.509 certificate naming the party, used as a
// TLS client certificate towards the enclave and pinned in the policy.
//
// It must never write a private key anywhere but the file the user asked
// for (mode 0600), never overwrite an existing identity, and never accept a
// key that does not match its certificate.
package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/truce-project/truce/internal/atomicfile"
)

// Identity is one party: its name, its certificate and its private key.
type Identity struct {
	Name string
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// Errors callers branch on.
var (
	// ErrExists is returned by Write when a file it would write exists.
	ErrExists = errors.New("identity file already exists")
	// ErrKeyMismatch is returned by Load when the key is not the
	// certificate's.
	ErrKeyMismatch = errors.New("private key does not match the certificate")
	// ErrBadName is returned by New for a name that cannot be a file name
	// and a principal name.
	ErrBadName = errors.New("invalid identity name")
)

// DefaultValidity is how long a new identity's certificate is valid when
// no other duration is given.
const DefaultValidity = 365 * 24 * time.Hour

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidName reports whether name is usable as an identity and principal
// name: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a
// letter or digit.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// New makes a fresh identity: a P-256 key from rand and a self-signed
// certificate with CN=name, valid from one minute before now for validFor,
// usable only as a TLS client certificate (digitalSignature,
// ExtKeyUsageClientAuth). A nil rand means crypto/rand; a zero now means
// the current time; a zero validFor means DefaultValidity.
func New(name string, validFor time.Duration, now time.Time, rnd io.Reader) (*Identity, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("%w %q: use 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", ErrBadName, name)
	}
	if validFor < 0 {
		return nil, fmt.Errorf("validity %v is negative: give a positive duration such as 8760h", validFor)
	}
	if validFor == 0 {
		validFor = DefaultValidity
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	if now.IsZero() {
		now = time.Now()
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("generating P-256 key: %w", err)
	}
	serialBytes := make([]byte, 16)
	if _, err := io.ReadFull(rnd, serialBytes); err != nil {
		return nil, fmt.Errorf("generating certificate serial number: %w", err)
	}
	serialBytes[0] &= 0x7f
	serial := new(big.Int).SetBytes(serialBytes)
	if serial.Sign() == 0 {
		serial.SetInt64(1)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	ski := sha256.Sum256(spki)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Minute).UTC().Truncate(time.Second),
		NotAfter:              now.Add(validFor).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski[:20],
	}
	der, err := x509.CreateCertificate(rnd, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("signing certificate for %q: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("reading back certificate for %q: %w", name, err)
	}
	return &Identity{Name: name, Cert: cert, Key: key}, nil
}

// CertPEM returns the certificate in PEM form.
func (id *Identity) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: id.Cert.Raw})
}

// KeyPEM returns the private key as PKCS#8 in PEM form.
func (id *Identity) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(id.Key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Write writes dir/NAME.crt (mode 0644) and dir/NAME.key (mode 0600). It
// refuses, with ErrExists, when either file exists, and then writes
// neither; if writing the second file fails the first is removed.
func (id *Identity) Write(dir string) (certPath, keyPath string, err error) {
	if !ValidName(id.Name) {
		return "", "", fmt.Errorf("%w %q", ErrBadName, id.Name)
	}
	certPath = filepath.Join(dir, id.Name+".crt")
	keyPath = filepath.Join(dir, id.Name+".key")
	keyPEM, err := id.KeyPEM()
	if err != nil {
		return "", "", err
	}
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%w: %s", ErrExists, p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("checking %s: %w", p, err)
		}
	}
	// The key first: linking a finished file (atomicfile.WriteNew) makes the
	// existence check race-free.
	if err := writeExclusive(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeExclusive(certPath, id.CertPEM(), 0o644); err != nil {
		os.Remove(keyPath)
		return "", "", err
	}
	return certPath, keyPath, nil
}

func writeExclusive(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.WriteNew(path, data, mode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return err
	}
	return nil
}

// TLSCertificate returns the identity as a certificate for crypto/tls.
func (id *Identity) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}
}

// Load reads an identity from a certificate file and a key file, both PEM.
// The key may be PKCS#8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY") and
// must be a P-256 key matching the certificate (ErrKeyMismatch otherwise).
// The name is the certificate's common name.
func Load(certFile, keyFile string) (*Identity, error) {
	cert, err := ReadCertificatePEM(certFile)
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading private key: %w", err)
	}
	key, err := ParseKeyPEM(kb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("%w: %s is not the key of %s", ErrKeyMismatch, keyFile, certFile)
	}
	return &Identity{Name: cert.Subject.CommonName, Cert: cert, Key: key}, nil
}

// ReadCertificatePEM reads a file holding exactly one PEM certificate.
func ReadCertificatePEM(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading certificate: %w", err)
	}
	c, err := ParseCertificatePEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

// ParseCertificatePEM parses exactly one PEM block of type CERTIFICATE,
// with nothing but white space around it.
func ParseCertificatePEM(data []byte) (*x509.Certificate, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		if bytes.Contains(data, []byte("-----BEGIN")) {
			return nil, errors.New("malformed PEM: check the BEGIN/END lines and the base64 between them")
		}
		return nil, errors.New("no PEM certificate found: expected a -----BEGIN CERTIFICATE----- block")
	}
	if block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("PEM block is %q, not CERTIFICATE: give the .crt file, not the key", block.Type)
	}
	if len(block.Headers) != 0 {
		return nil, errors.New("PEM certificate has headers: remove them")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("more than one PEM block, or data after the certificate: give exactly one certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	return c, nil
}

// ParseKeyPEM parses one PEM private key, PKCS#8 or SEC 1, which must be
// ECDSA P-256.
func ParseKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key found: expected a -----BEGIN PRIVATE KEY----- block")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("data after the private key: give exactly one key")
	}
	var k any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "CERTIFICATE":
		return nil, errors.New("this is a certificate, not a private key: give the .key file")
	default:
		return nil, fmt.Errorf("PEM block is %q: expected PRIVATE KEY (PKCS#8) or EC PRIVATE KEY", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("private key is not ECDSA P-256: make one with \"truce identity new\"")
	}
	return ek, nil
}
