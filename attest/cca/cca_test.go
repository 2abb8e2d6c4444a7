package cca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/veraison/ccatoken"

	"github.com/truce-project/truce/attest"
)

func load(t testing.TB) (token, key []byte) {
	t.Helper()
	tok, err := os.ReadFile("testdata/cca_token.cbor")
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile("testdata/cca_platform.pub")
	if err != nil {
		t.Fatal(err)
	}
	return tok, k
}

func TestRealFVPToken(t *testing.T) {
	tok, key := load(t)
	v := NewVerifier()
	c, err := v.Verify(tok, attest.VerifyOptions{Key: key})
	if err != nil {
		t.Fatalf("published token refused: %v", err)
	}
	if c.Platform != "cca" || c.Simulated {
		t.Errorf("platform %q simulated %t", c.Platform, c.Simulated)
	}
	if !bytes.Equal(c.Measurement, make([]byte, 32)) {
		t.Errorf("RIM %x, want 32 zero bytes", c.Measurement)
	}
	if !bytes.Equal(c.ReportData[:], bytes.Repeat([]byte{0xab}, 64)) {
		t.Errorf("challenge %x, want 64 bytes of ab", c.ReportData)
	}
	if got := string(c.Extra["rpv"]); !strings.HasPrefix(got, "The quick brown fox") || len(c.Extra["rpv"]) != 64 {
		t.Errorf("rpv %q", got)
	}
	for i := range 4 {
		if m := c.Extra["rem"+string(rune('0'+i))]; len(m) != 32 {
			t.Errorf("rem%d is %d bytes", i, len(m))
		}
	}
	for k, want := range map[string]string{"lifecycle": "0x3003 (secured)", "realm_hash_alg": "sha-256", "verification_service": "whatever.com",
		"implementation_id": "7f454c4602010100000000000000000003003e00010000005058000000000000"} {
		if c.Details[k] != want {
			t.Errorf("detail %s = %q, want %q", k, c.Details[k], want)
		}
	}
	// DER works as well as PEM.
	blk, _ := pem.Decode(key)
	if _, err := v.Verify(tok, attest.VerifyOptions{Key: blk.Bytes}); err != nil {
		t.Errorf("DER key refused: %v", err)
	}
}

func TestRefused(t *testing.T) {
	tok, key := load(t)
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	otherDER, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	for _, tc := range []struct {
		name    string
		tok     []byte
		key     []byte
		wantErr error
	}{
		{name: "no key", tok: tok, wantErr: ErrNoKey},
		{name: "another platform's key", tok: tok, key: otherDER},
		{name: "key not a key", tok: tok, key: []byte("not a key")},
		{name: "truncated", tok: tok[:len(tok)-1], key: key},
		{name: "trailing byte", tok: append(bytes.Clone(tok), 0), key: key},
		{name: "empty", key: key},
		{name: "platform token only", tok: tok[:40], key: key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewVerifier().Verify(tc.tok, attest.VerifyOptions{Key: tc.key})
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, attest.ErrBadEvidence) {
				t.Errorf("%v does not wrap ErrBadEvidence", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%v does not wrap %v", err, tc.wantErr)
			}
		})
	}
}

// TestMutatedToken flips a bit in every fourth byte of the token, and in the
// claims that carry the measurements: both tokens are signed and bound, so
// each copy is refused.
func TestMutatedToken(t *testing.T) {
	tok, key := load(t)
	v := NewVerifier()
	try := func(what string, i int) {
		m := bytes.Clone(tok)
		m[i] ^= 0x01
		if _, err := v.Verify(m, attest.VerifyOptions{Key: key}); err == nil {
			t.Errorf("%s: token with byte %d flipped accepted", what, i)
		}
	}
	for i := 0; i < len(tok); i += 4 {
		try("stride", i)
	}
	// Realm claims by their CBOR keys: challenge (10), RPV (44235), RIM
	// (44238), REMs (44239), RAK (44237); platform nonce (10) and
	// implementation ID (2396).
	for _, needle := range []string{"0a5840ab", "19accb5840", "19acce5820", "19accf84", "19accd5861", "19095c5820"} {
		n, _ := hex.DecodeString(needle)
		i := bytes.Index(tok, n)
		if i < 0 {
			t.Fatalf("token lacks %s", needle)
		}
		try(needle, i+len(n))
		try(needle, i+len(n)+10)
	}
}

func TestLifecycle(t *testing.T) {
	tok, _ := load(t)
	for _, tc := range []struct {
		lc         uint16
		allowDebug bool
		ok         bool
	}{
		{lc: 0x3000, ok: true},
		{lc: 0x30ff, ok: true},
		{lc: 0x4000},
		{lc: 0x5003},
		{lc: 0x5003, allowDebug: true, ok: true},
		{lc: 0x6000},
		{lc: 0x2000},
		{lc: 0x0000},
	} {
		ev, err := ccatoken.DecodeEvidenceFromCBOR(tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := ev.PlatformClaims.SetSecurityLifeCycle(tc.lc); err != nil {
			t.Fatalf("%#x: %v", tc.lc, err)
		}
		_, err = claims(ev, tc.allowDebug)
		if tc.ok && err != nil {
			t.Errorf("lifecycle %#x (allow debug %t) refused: %v", tc.lc, tc.allowDebug, err)
		}
		if !tc.ok && (!errors.Is(err, ErrDebug) || !errors.Is(err, attest.ErrBadEvidence)) {
			t.Errorf("lifecycle %#x: %v, want ErrDebug", tc.lc, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	tok, key := load(f)
	f.Add(tok)
	f.Add(tok[:100])
	f.Add([]byte{0xd9, 0x01, 0x8f, 0xa0})
	want, err := NewVerifier().Verify(tok, attest.VerifyOptions{Key: key})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Only the published key signed anything, so whatever verifies
		// must say what the published token says.
		c, err := NewVerifier().Verify(b, attest.VerifyOptions{Key: key, AllowDebug: true})
		if err == nil && (!bytes.Equal(c.Measurement, want.Measurement) || c.ReportData != want.ReportData || !bytes.Equal(c.Extra["rpv"], want.Extra["rpv"])) {
			t.Fatal("accepted claims the published token does not make")
		}
	})
}

// TestKeyStore: a verifier with trusted platform keys verifies tokens of
// any of them without a key per call, and refuses others.
func TestKeyStore(t *testing.T) {
	tok, key := load(t)
	cpak, err := parseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := (&Verifier{Keys: []crypto.PublicKey{&other.PublicKey, cpak}}).Verify(tok, attest.VerifyOptions{}); err != nil {
		t.Errorf("token of a trusted platform refused: %v", err)
	}
	if _, err := (&Verifier{Keys: []crypto.PublicKey{&other.PublicKey}}).Verify(tok, attest.VerifyOptions{}); err == nil {
		t.Error("token of an untrusted platform accepted")
	}
}
