package sgx_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/sgx/sgxtest"
	sgxprovider "github.com/truce-project/truce/internal/provider/sgx"
)

// read reads a file of the verifier's testdata (real Intel samples).
func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../../attest/sgx/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPlatform(t testing.TB) *sgxtest.Platform {
	t.Helper()
	q, err := sgx.ParseQuote(read(t, "quote-v3.bin"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := sgxtest.New(read(t, "quote-v3.bin"), q.PCKChain[0])
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProviderWithFakeGramine(t *testing.T) {
	p := mustPlatform(t)
	g := &sgxtest.Gramine{Type: "dcap", Quoter: func(rd [64]byte) []byte {
		return p.Quote(sgxtest.Report{MRENCLAVE: [32]byte{7}, ReportData: rd}.Body(), nil)
	}}
	prov := &sgxprovider.Provider{Files: g}
	rd := attest.ReportData([]byte("spki"), [32]byte{3}, []byte("nonce"))
	q, err := prov.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if w := g.Written(); len(w) != 1 || !bytes.Equal(w[0], rd[:]) {
		t.Fatalf("wrote %x", w)
	}
	c, err := sgx.Verifier{Root: p.Root.Cert}.Verify(q, attest.VerifyOptions{Now: sgxtest.Epoch})
	if err != nil || c.ReportData != rd {
		t.Fatalf("%v %x", err, c.ReportData)
	}
	if prov.Platform() != "sgx" {
		t.Fatal(prov.Platform())
	}
}

func TestProviderRecordedQuote(t *testing.T) {
	real := read(t, "quote-v3.bin")
	g := &sgxtest.Gramine{Type: "dcap", Quoter: func([64]byte) []byte { return real }}
	q, err := (&sgxprovider.Provider{Files: g}).Evidence(context.Background(), [64]byte{1})
	if err != nil || !bytes.Equal(q, real) {
		t.Fatalf("%v", err)
	}
	for _, tc := range []struct {
		name string
		g    *sgxtest.Gramine
		want error
	}{
		{"epid", &sgxtest.Gramine{Type: "epid", Quoter: func([64]byte) []byte { return real }}, sgxprovider.ErrNotDCAP},
		{"none", &sgxtest.Gramine{Type: "none", Quoter: func([64]byte) []byte { return real }}, sgxprovider.ErrNotDCAP},
		{"garbage quote", &sgxtest.Gramine{Type: "dcap", Quoter: func([64]byte) []byte { return []byte("no") }}, sgx.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := (&sgxprovider.Provider{Files: tc.g}).Evidence(context.Background(), [64]byte{}); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := (&sgxprovider.Provider{Files: sgxprovider.DirFiles(t.TempDir())}).Evidence(context.Background(), [64]byte{}); err == nil {
		t.Fatal("empty directory accepted")
	}
}

func TestDirFiles(t *testing.T) {
	dir := t.TempDir()
	real := read(t, "quote-v3.bin")
	for name, b := range map[string][]byte{"attestation_type": []byte("dcap"), "user_report_data": nil, "quote": real} {
		if err := os.WriteFile(dir+"/"+name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	q, err := (&sgxprovider.Provider{Files: sgxprovider.DirFiles(dir)}).Evidence(context.Background(), [64]byte{5})
	if err != nil || !bytes.Equal(q, real) {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dir + "/user_report_data"); !bytes.Equal(b, append([]byte{5}, make([]byte, 63)...)) {
		t.Fatalf("user_report_data %x", b)
	}
}
