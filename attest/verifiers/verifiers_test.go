package verifiers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"slices"
	"testing"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/verifiers"
)

type fakeVerifier struct{ p string }

func (f fakeVerifier) Platform() string { return f.p }
func (f fakeVerifier) Verify([]byte, attest.VerifyOptions) (*attest.Claims, error) {
	return nil, attest.ErrBadEvidence
}

// TestSet: what the registry did (Lookup, Register, Platforms), a Set
// does explicitly.
func TestSet(t *testing.T) {
	s := verifiers.All(verifiers.Options{})
	if _, err := s.Get("no-such-platform"); !errors.Is(err, attest.ErrUnsupportedPlatform) {
		t.Fatalf("got %v, want ErrUnsupportedPlatform", err)
	}
	s["test-platform"] = fakeVerifier{"test-platform"}
	v, err := s.Get("test-platform")
	if err != nil || v.Platform() != "test-platform" {
		t.Fatalf("Get = %v, %v", v, err)
	}
	if !slices.Contains(s.Platforms(), "test-platform") {
		t.Fatal("Platforms does not list the added verifier")
	}
}

// TestAll: every hardware platform's verifier is in the set under its own
// name (what each platform's TestRegistered checked of the registry), and
// sim only with the device key.
func TestAll(t *testing.T) {
	s := verifiers.All(verifiers.Options{})
	for _, p := range []string{"cca", "nitro", "psa", "sgx", "snp", "tdx"} {
		if v, err := s.Get(p); err != nil || v.Platform() != p {
			t.Errorf("%s: %v %v", p, v, err)
		}
	}
	if _, ok := s[attest.SimPlatform]; ok {
		t.Fatal("a sim verifier without the device key")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := verifiers.All(verifiers.Options{SimKey: &key.PublicKey}).Get(attest.SimPlatform); err != nil || v.Platform() != attest.SimPlatform {
		t.Fatalf("sim: %v %v", v, err)
	}
	if !slices.Contains(verifiers.Names(), attest.SimPlatform) || len(verifiers.Names()) != 7 {
		t.Fatalf("Names = %v", verifiers.Names())
	}
}
