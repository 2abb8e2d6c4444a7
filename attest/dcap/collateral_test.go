package dcap_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest/dcap"
)

func sample(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dcap.ParseCollateral(b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestParseCollateralStrict: Intel's real samples for SGX and TDX parse
// (the TDX one with sgx_ql_qve_collateral_t's version and tee_type);
// anything else than the layout's fields, as strings, is refused.
func TestParseCollateralStrict(t *testing.T) {
	sgx := sample(t, "../sgx/testdata/collateral.json")
	tdx := sample(t, "../tdx/testdata/collateral.json")
	edit := func(base map[string]any, f func(m map[string]any)) []byte {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"camelCase field", edit(tdx, func(m map[string]any) {
			m["pckCrlIssuerChain"] = m["pck_crl_issuer_chain"]
			delete(m, "pck_crl_issuer_chain")
		})},
		{"unknown field", edit(sgx, func(m map[string]any) { m["comment"] = "x" })},
		{"tcb_info inline", edit(tdx, func(m map[string]any) {
			var v any
			json.Unmarshal([]byte(m["tcb_info"].(string)), &v)
			m["tcb_info"] = v
		})},
		{"one CRL only", edit(tdx, func(m map[string]any) { delete(m, "pck_crl") })},
		{"no tcb_info", edit(sgx, func(m map[string]any) { delete(m, "tcb_info") })},
		{"trailing data", append(edit(sgx, func(map[string]any) {}), []byte(" {}")...)},
		{"too big", []byte(`{"tcb_info":"` + strings.Repeat("a", dcap.MaxCollateralSize) + `"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dcap.ParseCollateral(tc.b); !errors.Is(err, dcap.ErrCollateral) {
				t.Fatalf("got %v, want ErrCollateral", err)
			}
		})
	}
}

// TestCheckTEEType: collateral naming another TEE (tee_type) is refused
// before anything else is checked.
func TestCheckTEEType(t *testing.T) {
	b, err := os.ReadFile("../tdx/testdata/collateral.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := dcap.ParseCollateral(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Check(dcap.SGX, nil, nil, nil, "", "", false, time.Time{}); !errors.Is(err, dcap.ErrCollateral) || !strings.Contains(err.Error(), "tee_type") {
		t.Fatalf("TDX collateral checked for SGX: %v, want ErrCollateral naming tee_type", err)
	}
}
