package nitro_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/truce-project/truce/attest"
	nitroattest "github.com/truce-project/truce/attest/nitro"
	"github.com/truce-project/truce/attest/nitro/nitrotest"
	"github.com/truce-project/truce/internal/provider/nitro"
)

// realDoc is the real attestation document the verifier's tests check.
func realDoc(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../attest/nitro/testdata/attestation.cbor")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustFake(t testing.TB) *nitrotest.NSM {
	t.Helper()
	f, err := nitrotest.New()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestEncodeRequestBytes(t *testing.T) {
	var rd [64]byte
	for i := range rd {
		rd[i] = byte(i)
	}
	got, err := nitro.EncodeRequest(rd, []byte{0xAA, 0xBB})
	if err != nil {
		t.Fatal(err)
	}
	// {"Attestation": {"user_data": h'00…3f', "nonce": null, "public_key": h'aabb'}}
	want := "a1" + "6b" + hex.EncodeToString([]byte("Attestation")) + "a3" +
		"69" + hex.EncodeToString([]byte("user_data")) + "5840" + hex.EncodeToString(rd[:]) +
		"65" + hex.EncodeToString([]byte("nonce")) + "f6" +
		"6a" + hex.EncodeToString([]byte("public_key")) + "42aabb"
	if hex.EncodeToString(got) != want {
		t.Fatalf("request\n got %x\nwant %s", got, want)
	}
	got, _ = nitro.EncodeRequest(rd, nil)
	if !bytes.HasSuffix(got, append([]byte("public_key"), 0xf6)) {
		t.Fatalf("no public key must encode as null: %x", got)
	}
	if _, err := nitro.EncodeRequest(rd, make([]byte, nitro.MaxRequestSize)); err == nil {
		t.Fatal("oversized request accepted")
	}
}

func TestProviderWithFakeNSM(t *testing.T) {
	fake := mustFake(t)
	spki := []byte("enclave key spki")
	p := &nitro.Provider{Device: fake, PublicKey: spki}
	rd := attest.ReportData(spki, [32]byte{9}, []byte("nonce"))
	doc, err := p.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	reqs := fake.Requests()
	want, _ := nitro.EncodeRequest(rd, spki)
	if len(reqs) != 1 || !bytes.Equal(reqs[0], want) {
		t.Fatalf("device saw %x, want %x", reqs, want)
	}
	c, err := nitroattest.Verifier{Roots: fake.Roots()}.Verify(doc, attest.VerifyOptions{Now: nitrotest.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	if c.ReportData != rd || c.Details["public_key"] != hex.EncodeToString(spki) || c.Details["report_data"] != "user_data" {
		t.Fatalf("claims %+v", c)
	}
	if !bytes.Equal(c.Measurement, fake.PCRs[0]) || !bytes.Equal(c.Extra["pcr1"], fake.PCRs[1]) {
		t.Fatal("PCRs not carried through")
	}
	if p.Platform() != "nitro" {
		t.Fatal(p.Platform())
	}
}

// recorded answers every request with one fixed response.
type recorded struct{ resp []byte }

func (r recorded) Exchange([]byte) ([]byte, error) { return r.resp, nil }

func TestProviderRecordedResponses(t *testing.T) {
	real := realDoc(t)
	ok, _ := cbor.Marshal(map[string]map[string][]byte{"Attestation": {"document": real}})
	errResp, _ := cbor.Marshal(map[string]string{"Error": "InvalidArgument"})
	bare, _ := cbor.Marshal("InternalError")
	noDoc, _ := cbor.Marshal(map[string]map[string][]byte{"Attestation": {}})
	other, _ := cbor.Marshal(map[string]int{"DescribePCR": 1})
	for _, tc := range []struct {
		name   string
		dev    nitro.Device
		want   []byte
		wantIs error
	}{
		{"document", recorded{ok}, real, nil},
		{"error code", recorded{errResp}, nil, nitro.ErrNSM},
		{"bare error string", recorded{bare}, nil, nitro.ErrNSM},
		{"no document", recorded{noDoc}, nil, nil},
		{"other response", recorded{other}, nil, nil},
		{"garbage", recorded{[]byte{0xff, 0x00}}, nil, nil},
		{"device fails", nitrotest.Closed{}, nil, nitrotest.ErrClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := (&nitro.Provider{Device: tc.dev}).Evidence(context.Background(), [64]byte{})
			if tc.want != nil {
				if err != nil || !bytes.Equal(got, tc.want) {
					t.Fatalf("got %d bytes, %v", len(got), err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("got %v, want %v", err, tc.wantIs)
			}
		})
	}
}

func TestProviderFakeErrors(t *testing.T) {
	fake := mustFake(t)
	fake.Fail = "InternalError"
	if _, err := (&nitro.Provider{Device: fake}).Evidence(context.Background(), [64]byte{}); !errors.Is(err, nitro.ErrNSM) {
		t.Fatalf("got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&nitro.Provider{Device: mustFake(t)}).Evidence(ctx, [64]byte{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestProviderNoDevice(t *testing.T) {
	if _, err := nitro.OpenDevice("/nonexistent/nsm"); err == nil {
		t.Fatal("opened a missing device")
	}
}

func FuzzDecodeResponse(f *testing.F) {
	ok, _ := cbor.Marshal(map[string]map[string][]byte{"Attestation": {"document": {1, 2}}})
	errResp, _ := cbor.Marshal(map[string]string{"Error": "InvalidArgument"})
	f.Add(ok)
	f.Add(errResp)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := nitro.DecodeResponse(b)
		if err == nil && len(doc) == 0 {
			t.Fatal("empty document without error")
		}
	})
}
