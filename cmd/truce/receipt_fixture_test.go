package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/receipt"
)

// Fixture of testdata/script/receipt_verify.txtar: the salt the enclave
// gave for /output/answer.txt and its content.
const (
	fixtureSaltByte = 0x5a
	fixtureAnswer   = "42\n"
)

// TestWriteReceiptScript rewrites the receipt, run result, tampered
// receipt and policy of testdata/script/receipt_verify.txtar when asked to
// (TRUCE_WRITE_TESTDATA=1): a fresh attestation service CA and enclave
// key, the policy pinning that CA, and a receipt signed by the enclave key
// naming answer.txt by its commitment under the fixture's salt.
func TestWriteReceiptScript(t *testing.T) {
	if os.Getenv("TRUCE_WRITE_TESTDATA") == "" {
		t.Skip("set TRUCE_WRITE_TESTDATA=1 to rewrite testdata/script/receipt_verify.txtar")
	}
	const name = "testdata/script/receipt_verify.txtar"
	a, err := txtar.ParseFile(name)
	if err != nil {
		t.Fatal(err)
	}
	file := func(n string) *txtar.File {
		for i := range a.Files {
			if a.Files[i].Name == n {
				return &a.Files[i]
			}
		}
		a.Files = append(a.Files, txtar.File{Name: n})
		return &a.Files[len(a.Files)-1]
	}
	from, until := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fixture PAS CA"},
		NotBefore: from, NotAfter: until, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	var doc map[string]any
	if err := json.Unmarshal(file("policy.json").Data, &doc); err != nil {
		t.Fatal(err)
	}
	oldPol := policy.Hash(file("policy.json").Data)
	doc["attestation"].(map[string]any)["ca_cert"] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	pb, _ := json.MarshalIndent(doc, "", "  ")
	pb = append(pb, '\n')
	finished := time.Date(2026, 6, 1, 12, 0, 1, 500, time.UTC)
	pol, err := policy.Parse(pb, finished)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := hex.DecodeString(pol.Attestation.Runtimes[0].Measurement)
	ext, err := attest.Identity{Platform: "sim", Measurement: m, PolicyHash: pol.Hash(), Simulated: true}.Extension()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "enclave"},
		NotBefore: from, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		ExtraExtensions: []pkix.Extension{ext}}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	salt := bytes.Repeat([]byte{fixtureSaltByte}, audit.SaltSize)
	rc := receipt.Receipt{PolicyHash: pol.HashHex(), Program: "/program/p.wasm", ProgramHash: pol.Programs[0].SHA256,
		Inputs: []receipt.FileHash{}, Outputs: []receipt.FileHash{{Path: "/output/answer.txt", Commitment: audit.Commit(salt, []byte(fixtureAnswer))}},
		Outcome: "exited", Started: finished.Add(-time.Second - 500).UTC(), Finished: finished, Platform: "sim", Chain: [][]byte{leafDER, caDER}}
	if err := receipt.Sign(&rc, key); err != nil {
		t.Fatal(err)
	}
	js := func(v any) []byte { b, _ := json.MarshalIndent(v, "", "  "); return append(b, '\n') }
	file("policy.json").Data = pb
	file("receipt.json").Data = js(rc)
	file("result.json").Data = js(struct {
		ExitCode uint32          `json:"exit_code"`
		Outcome  string          `json:"outcome"`
		Program  string          `json:"program"`
		Receipt  receipt.Receipt `json:"receipt"`
	}{0, "exited", rc.Program, rc})
	bad := rc
	bad.ExitCode = 1
	file("tampered.json").Data = js(bad)
	file("answer.txt").Data = []byte(fixtureAnswer)
	file("other-answer.txt").Data = []byte("43\n")
	a.Comment = []byte(strings.ReplaceAll(string(a.Comment), hex.EncodeToString(oldPol[:]), pol.HashHex()))
	if err := os.WriteFile(name, txtar.Format(a), 0o644); err != nil {
		t.Fatal(err)
	}
}
