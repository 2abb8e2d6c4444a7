package receipt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/audit"
)

func signed(t testing.TB) *Receipt {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "enclave"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	r := &Receipt{PolicyHash: "ab", Program: "/program/p.wasm", ProgramHash: "cd",
		Inputs:  []FileHash{{"/input/a", "11"}},
		Outputs: []FileHash{{"/output/o", "22"}},
		Outcome: "exited", Started: time.Now(), Finished: time.Now(), Platform: "sim", Chain: [][]byte{der}}
	if err := Sign(r, key); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestWriteSigned writes testdata/signed.json when asked to
// (TRUCE_WRITE_TESTDATA=1).
func TestWriteSigned(t *testing.T) {
	if os.Getenv("TRUCE_WRITE_TESTDATA") == "" {
		t.Skip("set TRUCE_WRITE_TESTDATA=1 to rewrite testdata/signed.json")
	}
	b, err := json.MarshalIndent(signed(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/signed.json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSignVerify(t *testing.T) {
	if _, err := VerifySignature(signed(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tamper func(*Receipt)
		want   error
	}{
		{"exit code", func(r *Receipt) { r.ExitCode = 1 }, ErrSignature},
		{"folded", func(r *Receipt) { r.Folded = true }, ErrSignature},
		{"output hash", func(r *Receipt) { r.Outputs[0].Commitment = "23" }, ErrSignature},
		{"input dropped", func(r *Receipt) { r.Inputs = nil }, ErrSignature},
		{"time", func(r *Receipt) { r.Finished = r.Finished.Add(time.Second) }, ErrSignature},
		{"signature byte", func(r *Receipt) { r.Signature[len(r.Signature)-1] ^= 1 }, ErrSignature},
		{"no chain", func(r *Receipt) { r.Chain = nil }, ErrChain},
		{"other key", func(r *Receipt) { r.Chain = signed(t).Chain }, ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signed(t)
			tc.tamper(r)
			if _, err := VerifySignature(r); !errors.Is(err, tc.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzVerifySignature feeds receipts decoded from arbitrary JSON (as a
// verifier reads them from a file) to VerifySignature: it must never
// panic, and a receipt that differs from the signed one in any signed
// field must never verify.
func FuzzVerifySignature(f *testing.F) {
	// A fixed signed receipt, so that every fuzzing process compares
	// against the same one.
	seed, err := os.ReadFile("testdata/signed.json")
	if err != nil {
		f.Fatal(err)
	}
	var s Receipt
	if err := json.Unmarshal(seed, &s); err != nil {
		f.Fatal(err)
	}
	if _, err := VerifySignature(&s); err != nil {
		f.Fatalf("testdata/signed.json: %v", err)
	}
	want, _ := Digest(&s)
	f.Add(seed)
	f.Add([]byte(`{"version":1,"chain":["AAAA"],"signature":"AAAA"}`))
	f.Add([]byte(`{"version":1,"chain":[""]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Receipt
		if json.Unmarshal(b, &r) != nil {
			return
		}
		if _, err := VerifySignature(&r); err != nil {
			return
		}
		// It verified: its signed content must be the seed's.
		if d, _ := Digest(&r); d != want {
			t.Fatalf("a receipt not signed by the enclave verified: %s", b)
		}
	})
}

// TestOldReceiptVerifies: a receipt written before the folded field
// existed (testdata/signed.json) still verifies, and encodes without the
// field, so its digest is the one signed.
func TestOldReceiptVerifies(t *testing.T) {
	b, err := os.ReadFile("testdata/signed.json")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"folded"`)) {
		t.Fatal("testdata/signed.json has a folded field: it must stay a receipt of the format before it")
	}
	var r Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySignature(&r); err != nil {
		t.Fatalf("a receipt without the folded field no longer verifies: %v", err)
	}
	if err := checkFolded(&r); err != nil {
		t.Fatal(err)
	}
	enc, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte(`"folded"`)) {
		t.Fatalf("an unfolded receipt encodes a folded field: %s", enc)
	}
}

// TestCheckFolded: a folded receipt carries only success (0, exited) or
// failure (1, failed); an unfolded one anything.
func TestCheckFolded(t *testing.T) {
	for _, tc := range []struct {
		folded  bool
		code    uint32
		outcome string
		ok      bool
	}{
		{true, 0, OutcomeExited, true},
		{true, 1, OutcomeFailed, true},
		{true, 1, OutcomeExited, false},
		{true, 0, OutcomeFailed, false},
		{true, 0x736579, OutcomeExited, false},
		{true, 1, "trapped", false},
		{true, 1, "timed out", false},
		{true, 0, "", false},
		{false, 0x736579, OutcomeExited, true},
		{false, 1, "trapped", true},
	} {
		r := &Receipt{Folded: tc.folded, ExitCode: tc.code, Outcome: tc.outcome}
		err := checkFolded(r)
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrFolded) {
			t.Errorf("checkFolded(folded %v, code %d, outcome %q) = %v, want ok %v", tc.folded, tc.code, tc.outcome, err, tc.ok)
		}
	}
	// A folded receipt signs and verifies like any other, and says so.
	r := signed(t)
	r.Folded, r.ExitCode, r.Outcome = true, 1, OutcomeFailed
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "enclave"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	r.Chain = [][]byte{der}
	if err := Sign(r, key); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySignature(r); err != nil {
		t.Fatal(err)
	}
	if enc, _ := json.Marshal(r); !bytes.Contains(enc, []byte(`"folded":true`)) {
		t.Fatalf("a folded receipt does not say so: %s", enc)
	}
}

func TestOpen(t *testing.T) {
	salt := bytes.Repeat([]byte{7}, audit.SaltSize)
	r := &Receipt{
		Inputs:  []FileHash{{"/input/a", audit.Commit(salt, []byte("bid=4217"))}},
		Outputs: []FileHash{{"/output/o", audit.Commit(salt, []byte("yes"))}},
	}
	sh := hex.EncodeToString(salt)
	for _, tc := range []struct {
		name    string
		inputs  bool
		path    string
		salt    string
		content string
		want    error
	}{
		{"own input", true, "/input/a", sh, "bid=4217", nil},
		{"own output", false, "/output/o", sh, "yes", nil},
		{"other bytes", true, "/input/a", sh, "bid=4218", audit.ErrOpening},
		{"other salt", true, "/input/a", strings.Repeat("08", audit.SaltSize), "bid=4217", audit.ErrOpening},
		{"output as input", true, "/output/o", sh, "yes", ErrNotNamed},
		{"unknown path", false, "/output/p", sh, "yes", ErrNotNamed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Open(r, tc.inputs, tc.path, tc.salt, strings.NewReader(tc.content))
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
	if err := Open(r, true, "/input/a", "zz", strings.NewReader("bid=4217")); err == nil {
		t.Fatal("a salt that is not hex opened the commitment")
	}
}
