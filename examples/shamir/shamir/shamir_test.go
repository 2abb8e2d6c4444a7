package shamir

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// Shares of "Hello World!\n" published in Veracruz's CLI walkthrough
// (github.com/veracruz-project/veracruz, the vc-client example that submits
// /input/shamir-0.dat … /input/shamir-2.dat and reads "Hello World!").
var veracruzShares = []string{
	"01dc061a7bdaf77616dd5915f3b4",
	"027f38e27b5a02a288d064965364",
	"03eb5b946cefd583f17f51e781da",
}

func TestVeracruzVector(t *testing.T) {
	var shares [][]byte
	for _, h := range veracruzShares {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, b)
	}
	got, err := Combine(shares)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "Hello World!\n" {
		t.Fatalf("Combine = %q", got)
	}
	// Any order.
	got, _ = Combine([][]byte{shares[2], shares[0], shares[1]})
	if string(got) != "Hello World!\n" {
		t.Fatalf("Combine reordered = %q", got)
	}
	// Too few shares (the example used k = n = 3) give something else.
	got, _ = Combine(shares[:2])
	if string(got) == "Hello World!\n" {
		t.Fatal("two of three shares reconstructed a k=3 secret")
	}
}

func TestField(t *testing.T) {
	// Known AES field products (FIPS-197 section 4.2: {57}·{83} = {c1}).
	if got := mul(0x57, 0x83); got != 0xc1 {
		t.Fatalf("57·83 = %02x, want c1", got)
	}
	if got := mul(0x57, 0x13); got != 0xfe {
		t.Fatalf("57·13 = %02x, want fe", got)
	}
	for a := 1; a < 256; a++ {
		if mul(byte(a), div(1, byte(a))) != 1 {
			t.Fatalf("inverse of %02x wrong", a)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	secret := []byte("the launch code is 0000")
	for _, tc := range []struct{ n, k int }{{1, 1}, {3, 3}, {5, 3}, {10, 2}, {255, 4}} {
		shares, err := Split(secret, tc.n, tc.k, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Combine(shares[len(shares)-tc.k:])
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("n=%d k=%d: %q, %v", tc.n, tc.k, got, err)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shares [][]byte
	}{
		{"none", nil},
		{"empty share", [][]byte{{}}},
		{"zero x", [][]byte{{0, 1}}},
		{"repeated x", [][]byte{{1, 1}, {1, 2}}},
	} {
		if _, err := Combine(tc.shares); !errors.Is(err, ErrShares) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := Split(nil, 2, 3, nil); !errors.Is(err, ErrShares) {
		t.Error("k > n accepted")
	}
}

func FuzzCombine(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{2, 4, 5})
	f.Add([]byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		Combine([][]byte{a, b})
	})
}
