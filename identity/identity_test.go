package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestNew(t *testing.T) {
	id, err := New("alice", 48*time.Hour, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := id.Cert
	if c.Subject.CommonName != "alice" || id.Name != "alice" {
		t.Errorf("CN %q", c.Subject.CommonName)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("key usage %v", c.KeyUsage)
	}
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("ext key usage %v", c.ExtKeyUsage)
	}
	if c.IsCA {
		t.Error("identity certificate is a CA")
	}
	if !c.NotAfter.Equal(now.Add(48*time.Hour)) || c.NotBefore.After(now) {
		t.Errorf("validity %v .. %v", c.NotBefore, c.NotAfter)
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() || !pub.Equal(&id.Key.PublicKey) {
		t.Error("certificate key is not the P-256 key")
	}
	// Usable as a TLS client certificate by a verifier that trusts it.
	pool := x509.NewCertPool()
	pool.AddCert(c)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("not valid for client auth: %v", err)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("valid for server auth too")
	}

	other, err := New("alice", 0, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 || other.Key.Equal(id.Key) {
		t.Error("two identities share a serial or key")
	}
	if d := time.Until(other.Cert.NotAfter); d < DefaultValidity-time.Hour || d > DefaultValidity {
		t.Errorf("default validity %v", d)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, name := range []string{"", "a b", "../x", "-a", "a/b", strings.Repeat("a", 65), "é"} {
		if _, err := New(name, 0, now, nil); !errors.Is(err, ErrBadName) {
			t.Errorf("New(%q): %v, want ErrBadName", name, err)
		}
	}
	if _, err := New("a", -time.Second, now, nil); err == nil {
		t.Error("negative validity accepted")
	}
	if _, err := New("a", 0, now, bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("short randomness accepted")
	}
	for _, name := range []string{"alice", "a", "bob@example.com", "x.y_z-1", strings.Repeat("a", 64)} {
		if !ValidName(name) {
			t.Errorf("ValidName(%q) false", name)
		}
	}
}

func TestWriteLoad(t *testing.T) {
	dir := t.TempDir()
	id, err := New("bob", time.Hour, time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath, err := id.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if certPath != filepath.Join(dir, "bob.crt") || keyPath != filepath.Join(dir, "bob.key") {
		t.Errorf("paths %s %s", certPath, keyPath)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v %v", fi.Mode(), err)
	}
	kb, _ := os.ReadFile(keyPath)
	if b, _ := pem.Decode(kb); b == nil || b.Type != "PRIVATE KEY" {
		t.Error("key is not PKCS#8 PEM")
	}
	got, err := Load(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "bob" || !bytes.Equal(got.Cert.Raw, id.Cert.Raw) || !got.Key.Equal(id.Key) {
		t.Error("loaded identity differs")
	}
	tc := got.TLSCertificate()
	if _, err := tls.X509KeyPair(got.CertPEM(), kb); err != nil || tc.Leaf == nil || len(tc.Certificate) != 1 {
		t.Errorf("not usable by crypto/tls: %v", err)
	}

	// Refuses to overwrite, and writes nothing when either file exists.
	if _, _, err := id.Write(dir); !errors.Is(err, ErrExists) {
		t.Errorf("second write: %v", err)
	}
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, "bob.crt"), []byte("keep"), 0o644)
	if _, _, err := id.Write(dir2); !errors.Is(err, ErrExists) {
		t.Errorf("write over .crt: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "bob.key")); !errors.Is(err, os.ErrNotExist) {
		t.Error(".key written although .crt existed")
	}
	if b, _ := os.ReadFile(filepath.Join(dir2, "bob.crt")); string(b) != "keep" {
		t.Error(".crt overwritten")
	}
	dir3 := t.TempDir()
	os.WriteFile(filepath.Join(dir3, "bob.key"), []byte("keep"), 0o600)
	if _, _, err := id.Write(dir3); !errors.Is(err, ErrExists) {
		t.Errorf("write over .key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir3, "bob.crt")); !errors.Is(err, os.ErrNotExist) {
		t.Error(".crt written although .key existed")
	}
	if _, _, err := id.Write(filepath.Join(dir, "missing")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	a, _ := New("a", time.Hour, time.Time{}, nil)
	b, _ := New("b", time.Hour, time.Time{}, nil)
	aCert, aKey, err := a.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, bKey, _ := b.Write(dir)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rsaLike := write("other.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte{1}}))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	p384File := write("p384.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384DER}))
	sec1DER, _ := x509.MarshalECPrivateKey(a.Key)
	sec1 := write("sec1.key", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1DER}))

	cases := []struct {
		name      string
		cert, key string
		want      string
		is        error
	}{
		{"key of another", aCert, bKey, "does not match", ErrKeyMismatch},
		{"key for cert", aKey, aKey, "not CERTIFICATE", nil},
		{"cert for key", aCert, aCert, "not a private key", nil},
		{"missing cert", filepath.Join(dir, "none.crt"), aKey, "reading certificate", os.ErrNotExist},
		{"missing key", aCert, filepath.Join(dir, "none.key"), "reading private key", os.ErrNotExist},
		{"garbage cert", write("g.crt", []byte("hello")), aKey, "no PEM certificate", nil},
		{"broken pem", write("b.crt", []byte("-----BEGIN CERTIFICATE-----\n!!\n")), aKey, "malformed PEM", nil},
		{"two certs", write("two.crt", append(a.CertPEM(), b.CertPEM()...)), aKey, "more than one", nil},
		{"bad der", write("der.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0}})), aKey, "parsing certificate", nil},
		{"rsa key block", aCert, rsaLike, `"RSA PRIVATE KEY"`, nil},
		{"p384 key", aCert, p384File, "not ECDSA P-256", nil},
		{"garbage key", aCert, write("g.key", []byte("x")), "no PEM private key", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.cert, c.key)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("%v is not %v", err, c.is)
			}
		})
	}
	if id, err := Load(aCert, sec1); err != nil || !id.Key.Equal(a.Key) {
		t.Errorf("SEC 1 key refused: %v", err)
	}
}

func FuzzParseCertificatePEM(f *testing.F) {
	id, _ := New("seed", time.Hour, now, nil)
	f.Add(id.CertPEM())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCertificatePEM(data)
		if (c == nil) == (err == nil) {
			t.Fatal("exactly one of certificate and error expected")
		}
	})
}

func FuzzParseKeyPEM(f *testing.F) {
	id, _ := New("seed", time.Hour, now, nil)
	k, _ := id.KeyPEM()
	f.Add(k)
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := ParseKeyPEM(data)
		if (key == nil) == (err == nil) {
			t.Fatal("exactly one of key and error expected")
		}
		if key != nil && key.Curve != elliptic.P256() {
			t.Fatal("non-P-256 key accepted")
		}
	})
}
