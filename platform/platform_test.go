package platform

import (
	"slices"
	"testing"
)

func TestSpecs(t *testing.T) {
	names := Names()
	if want := []string{CCA, Nitro, PSA, SGX, Sim, SNP, TDX}; !slices.Equal(names, want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	for _, n := range names {
		s, ok := Lookup(n)
		if !ok || len(s.Sizes) == 0 || s.Measurement == "" {
			t.Errorf("%s: incomplete spec %+v", n, s)
		}
		if (len(s.TCB) == 0) == (s.NoTCB == "") {
			t.Errorf("%s: give either TCB components or the reason there are none", n)
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("an unknown platform was found")
	}
	tdx, _ := Lookup(TDX)
	if len(tdx.TCB) != 33 || tdx.TCB[1] != "tee_tcb_svn.0" || tdx.TCB[32] != "cpu_svn.15" {
		t.Errorf("tdx TCB = %v", tdx.TCB)
	}
}
