package dcap_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/truce-project/truce/attest/dcap"
	"github.com/truce-project/truce/attest/dcap/dcaptest"
)

// TestFetchInput: no URL is built from anything but an FMSPC, a known CA
// and a known TEE.
func TestFetchInput(t *testing.T) {
	pcs := dcaptest.New(nil)
	get := dcap.PCSGetter(pcs.Client())
	for _, c := range []struct {
		tee       dcap.TEE
		fmspc, ca string
	}{
		{dcap.TDX, "50806f00000", "platform"},
		{dcap.TDX, "50806f000000&x=1", "platform"},
		{dcap.TDX, "50806f000000", "platform&x=1"},
		{"tdx/../sgx", "50806f000000", "platform"},
	} {
		if _, err := dcap.Fetch(get, c.tee, c.fmspc, c.ca); !errors.Is(err, dcap.ErrInput) {
			t.Errorf("Fetch(%q, %q, %q): %v, want ErrInput", c.tee, c.fmspc, c.ca, err)
		}
	}
	if n := len(pcs.Requests()); n != 0 {
		t.Fatalf("%d requests for refused input", n)
	}
	if _, err := dcap.CA("Intel SGX PCK Platform CA"); err != nil {
		t.Fatal(err)
	}
	if _, err := dcap.CA("Someone's CA"); !errors.Is(err, dcap.ErrInput) {
		t.Fatalf("unknown PCK CA: %v", err)
	}
}

// TestPCSGetter: the issuer chain Intel sends URL-escaped in a header is
// kept, unescaped, with the body.
func TestPCSGetter(t *testing.T) {
	resp, err := dcaptest.TDXSample("../tdx/testdata")
	if err != nil {
		t.Fatal(err)
	}
	get := dcap.PCSGetter(dcaptest.New(resp).Client())
	u := dcap.TCBInfoURL(dcap.TDX, "50806f000000")
	b, err := get.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	var r dcap.Response
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.IssuerChain != resp[u].IssuerChain || string(r.Body) != string(resp[u].Body) || !strings.Contains(r.IssuerChain, "+") {
		t.Fatalf("got chain %q…, want the PEM with its '+' intact and the body as served", r.IssuerChain[:40])
	}
	if _, err := get.Get(dcap.PCSBase + "/nothing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing document: %v", err)
	}
}

type fuzzGetter []byte

func (f fuzzGetter) Get(string) ([]byte, error) { return f, nil }

// FuzzFetch: whatever a cache or the PCS answers, Fetch returns an error
// or collateral, never a panic.
func FuzzFetch(f *testing.F) {
	f.Add([]byte(`{"issuer_chain":"x","body":"e30="}`))
	f.Add([]byte(`{"body":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		dcap.Fetch(fuzzGetter(b), dcap.TDX, "50806f000000", "platform")
	})
}
