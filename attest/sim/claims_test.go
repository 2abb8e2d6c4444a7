package sim

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	"github.com/truce-project/truce/attest"
)

// signClaims signs an arbitrary claims value with d, as a device would.
func signClaims(t *testing.T, d *testDevice, claims any) []byte {
	t.Helper()
	payload, err := encMode.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cose.NewSigner(cose.AlgorithmES256, d.key)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, s); err != nil {
		t.Fatal(err)
	}
	b, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClaimsChecked: tokens correctly signed by the device but with claims
// the profile does not allow are refused, so the verifier checks more than
// the signature.
func TestClaimsChecked(t *testing.T) {
	d := newDevice(t)
	ueid := UEID(d.Public())
	signer := sha256.Sum256(ueid)
	valid := func() claimsSet {
		return claimsSet{Nonce: bytes.Repeat([]byte{3}, 64), UEID: ueid, Profile: Profile, IAT: time.Now().Unix(),
			ImplID: implementationID[:], SWComps: []swComponent{{Type: "RT", Value: meas, Signer: signer[:], Desc: runtimeSWName}}}
	}
	v := NewVerifier(d.Public())
	if _, err := v.Verify(signClaims(t, d, valid()), attest.VerifyOptions{}); err != nil {
		t.Fatalf("valid claims refused: %v", err)
	}
	other := newDevice(t)
	for _, tc := range []struct {
		name  string
		edit  func(*claimsSet)
		other any
	}{
		{name: "wrong profile", edit: func(c *claimsSet) { c.Profile = "tag:example.com,2026:psa" }},
		{name: "short nonce", edit: func(c *claimsSet) { c.Nonce = c.Nonce[:32] }},
		{name: "another device's ueid", edit: func(c *claimsSet) { c.UEID = UEID(other.Public()) }},
		{name: "unknown implementation", edit: func(c *claimsSet) { c.ImplID = make([]byte, 32) }},
		{name: "no software component", edit: func(c *claimsSet) { c.SWComps = nil }},
		{name: "two software components", edit: func(c *claimsSet) { c.SWComps = append(c.SWComps, c.SWComps[0]) }},
		{name: "empty measurement", edit: func(c *claimsSet) { c.SWComps[0].Value = nil }},
		{name: "issued in the future", edit: func(c *claimsSet) { c.IAT = time.Now().Add(time.Hour).Unix() }},
		{name: "unknown claim", other: map[int]any{10: bytes.Repeat([]byte{3}, 64), 256: ueid, 265: Profile, 6: time.Now().Unix(),
			2395: 0, 2396: implementationID[:], 2399: []any{map[int]any{1: "RT", 2: meas, 5: signer[:]}}, 99: "extra"}},
		{name: "claims not a map", other: []int{1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var claims any
			if tc.other != nil {
				claims = tc.other
			} else {
				c := valid()
				tc.edit(&c)
				claims = c
			}
			_, err := v.Verify(signClaims(t, d, claims), attest.VerifyOptions{})
			if !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("got %v, want ErrBadEvidence", err)
			}
		})
	}
}
