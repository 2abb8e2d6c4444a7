package tdx

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/truce-project/truce/attest"
)

// at is inside the validity of the quote's PCK certificate (2022-09-20 to
// 2029-09-20) and of the collateral (tcb_info to 2023-07-18, qe_identity
// to 2023-07-08, PCK CRL to 2023-07-08).
var at = time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)

// trailer is text go-tdx-guest appended to the published quote, beyond
// the length the quote states, to test its parser; quote() strips it.
const trailer = "\nextra bytes(only for testing purpose)\n"

func load(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func published(t testing.TB) []byte { return load(t, "tdx_prod_quote_SPR_E4.dat") }

// quote is the published quote without go-tdx-guest's trailer: exactly the
// bytes the quote's own length field covers.
func quote(t testing.TB) []byte {
	p := published(t)
	if !strings.HasSuffix(string(p), trailer) {
		t.Fatal("published quote lost its trailer; update the test")
	}
	return p[:len(p)-len(trailer)]
}

func TestRealSapphireRapidsQuote(t *testing.T) {
	v := NewVerifier()
	c, err := v.Verify(quote(t), attest.VerifyOptions{Now: at})
	if err != nil {
		t.Fatalf("real quote refused: %v", err)
	}
	want := map[string]string{
		"measurement": "6363b8043668a3ad953278e10389574d326c6749fb78aa810ecd9336923db86f22fc00b8dcd404bc10d5e119d7215cbb",
		"report_data": "6c62dec1b8191749a31dab490be532a35944dea47caef1f980863993d9899545eb7406a38d1eed313b987a467dacead6f0c87a6d766c66f6f29f8acb281f1113",
		"rtmr0":       "2927da70461cd63266f43230cc1849c03ef25ebe490062a801d8fcc80af42976823adf08f833c1e50b51779c6593f32a",
		"rtmr3":       strings.Repeat("00", 48),
		"mrconfigid":  strings.Repeat("00", 48),
	}
	// TEE_TCB_SVN 03000400…, the PCK certificate's PCE SVN and CPU SVN.
	for k, v := range map[string]int{"pce_svn": 11, "tee_tcb_svn.0": 3, "tee_tcb_svn.1": 0, "tee_tcb_svn.2": 4, "tee_tcb_svn.15": 0, "cpu_svn.0": 3, "cpu_svn.5": 1, "cpu_svn.7": 2} {
		if c.TCB[k] != v {
			t.Errorf("TCB %s = %d, want %d", k, c.TCB[k], v)
		}
	}
	if len(c.TCB) != 33 || c.Collateral != nil {
		t.Errorf("%d TCB components (want 33), collateral %v without collateral given", len(c.TCB), c.Collateral)
	}
	got := map[string]string{
		"measurement": hex.EncodeToString(c.Measurement),
		"report_data": hex.EncodeToString(c.ReportData[:]),
		"rtmr0":       hex.EncodeToString(c.Extra["rtmr0"]),
		"rtmr3":       hex.EncodeToString(c.Extra["rtmr3"]),
		"mrconfigid":  hex.EncodeToString(c.Extra["mrconfigid"]),
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s = %s, want %s", k, got[k], want[k])
		}
	}
	for _, name := range []string{"rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrconfigid", "mrowner", "mrownerconfig"} {
		if len(c.Extra[name]) != 48 {
			t.Errorf("extra %s is %d bytes, want 48", name, len(c.Extra[name]))
		}
	}
	for k, w := range map[string]string{"debug": "false", "fmspc": "50806f000000", "td_attributes": "0x0000000040000000", "tcb_status": "not checked (no collateral given)"} {
		if c.Details[k] != w {
			t.Errorf("detail %s = %q, want %q", k, c.Details[k], w)
		}
	}
	if c.Platform != "tdx" || c.Simulated {
		t.Errorf("platform %q simulated %t", c.Platform, c.Simulated)
	}
}

func TestQuoteRefused(t *testing.T) {
	q := quote(t)
	for _, tc := range []struct {
		name string
		q    []byte
		now  time.Time
	}{
		{name: "before the PCK certificate", q: q, now: time.Date(2022, 9, 19, 0, 0, 0, 0, time.UTC)},
		{name: "after the PCK certificate", q: q, now: time.Date(2029, 9, 21, 0, 0, 0, 0, time.UTC)},
		{name: "truncated", q: q[:len(q)-100], now: at},
		{name: "header only", q: q[:48], now: at},
		{name: "trailing byte", q: append(bytes.Clone(q), 0), now: at},
		{name: "empty", now: at},
		{name: "as published, with a trailer", q: published(t), now: at},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := NewVerifier().Verify(tc.q, attest.VerifyOptions{Now: tc.now}); err == nil {
				t.Fatalf("accepted: %+v", c)
			} else if !errors.Is(err, attest.ErrBadEvidence) {
				t.Errorf("%v does not wrap ErrBadEvidence", err)
			}
		})
	}
}

// TestMutatedQuote flips a bit in every named field of the quote and in
// every fifth byte of all of it: the
// header and TD report are signed by the attestation key, which the QE
// report binds, which the PCK key signs, whose certificate chains to the
// built-in root, so each copy is refused.
func TestMutatedQuote(t *testing.T) {
	q := quote(t)
	fields := []struct {
		name      string
		off, size int
	}{
		{"header", 0, 48}, {"tee_tcb_svn", 48, 16}, {"mrseam", 64, 48}, {"mrsignerseam", 112, 48},
		{"seam_attributes", 160, 8}, {"td_attributes", 168, 8}, {"xfam", 176, 8}, {"mrtd", 184, 48},
		{"mrconfigid", 232, 48}, {"mrowner", 280, 48}, {"mrownerconfig", 328, 48}, {"rtmr0", 376, 48},
		{"rtmr1", 424, 48}, {"rtmr2", 472, 48}, {"rtmr3", 520, 48}, {"report_data", 568, 64},
		{"signed_data_size", 632, 4}, {"signature", 636, 64}, {"attestation_key", 700, 64},
		{"certification_data_type", 764, 2}, {"certification_data_size", 766, 4},
		{"qe_report", 776, 384}, {"qe_report_signature", 1160, 64},
	}
	v := NewVerifier()
	try := func(what string, i int, bit byte) {
		m := bytes.Clone(q)
		m[i] ^= bit
		if _, err := v.Verify(m, attest.VerifyOptions{Now: at}); err == nil {
			t.Errorf("%s: quote with byte %d flipped accepted", what, i)
		}
	}
	for _, f := range fields {
		for _, i := range []int{f.off, f.off + f.size/2, f.off + f.size - 1} {
			try(f.name, i, 0x01)
		}
	}
	for i := 0; i < len(q); i += 5 {
		try("stride", i, 0x04)
	}
}

func TestDebugRefused(t *testing.T) {
	if err := checkAttributes(0x40000000, false); err != nil {
		t.Errorf("non-debug TD refused: %v", err)
	}
	err := checkAttributes(0x40000001, false)
	if !errors.Is(err, ErrDebug) || !errors.Is(err, attest.ErrBadEvidence) {
		t.Errorf("debug TD: %v, want ErrDebug and ErrBadEvidence", err)
	}
	if err := checkAttributes(0x40000001, true); err != nil {
		t.Errorf("debug TD with AllowDebug refused: %v", err)
	}
}

// TestRealCollateral: Intel's published collateral for this FMSPC (June
// 2023) verifies (CRLs, issuer chains, signatures, dates, QE identity), and
// then says the platform's TCB is below every level Intel lists, so the
// quote is refused for its TCB, not for the collateral.
func TestRealCollateral(t *testing.T) {
	q, col := quote(t), load(t, "collateral.json")
	_, err := NewVerifier().Verify(q, attest.VerifyOptions{Now: at, Collateral: col})
	if !errors.Is(err, ErrTCB) || errors.Is(err, ErrCollateral) {
		t.Fatalf("got %v, want ErrTCB (collateral verified, TCB level not met)", err)
	}
	if !strings.Contains(err.Error(), "no TCB level") {
		t.Errorf("got %v, want the TCB level not met", err)
	}
	// Collateral is read strictly (dcap.Collateral): field names in
	// camelCase are refused, not read the same.
	var m map[string]any
	if err := json.Unmarshal(col, &m); err != nil {
		t.Fatal(err)
	}
	camel := map[string]any{}
	for k, v := range m {
		parts := strings.Split(k, "_")
		for i := 1; i < len(parts); i++ {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
		camel[strings.Join(parts, "")] = v
	}
	cb, _ := json.Marshal(camel)
	if _, err := NewVerifier().Verify(q, attest.VerifyOptions{Now: at, Collateral: cb}); !errors.Is(err, ErrCollateral) {
		t.Errorf("camelCase collateral: %v, want ErrCollateral", err)
	}
	// The SGX verifier's form: the signed objects alone, signatures apart.
	split := map[string]any{}
	for k, v := range m {
		split[k] = v
	}
	for field, key := range map[string]string{"tcb_info": "tcbInfo", "qe_identity": "enclaveIdentity"} {
		var resp map[string]json.RawMessage
		if err := json.Unmarshal([]byte(m[field].(string)), &resp); err != nil {
			t.Fatal(err)
		}
		var sig string
		json.Unmarshal(resp["signature"], &sig)
		split[field] = string(resp[key])
		split[field+"_signature"] = sig
	}
	sb, _ := json.Marshal(split)
	if _, err := NewVerifier().Verify(q, attest.VerifyOptions{Now: at, Collateral: sb}); !errors.Is(err, ErrTCB) {
		t.Errorf("signatures apart: %v, want ErrTCB", err)
	}
	split["tcb_info_signature"] = strings.Repeat("00", 64)
	sb, _ = json.Marshal(split)
	if _, err := NewVerifier().Verify(q, attest.VerifyOptions{Now: at, Collateral: sb}); !errors.Is(err, ErrCollateral) {
		t.Errorf("wrong signature apart: %v, want ErrCollateral", err)
	}
	// A verifier that keeps collateral uses it when none is given.
	if _, err := (&Verifier{Collateral: col}).Verify(q, attest.VerifyOptions{Now: at}); !errors.Is(err, ErrTCB) {
		t.Errorf("kept collateral: %v, want ErrTCB", err)
	}
}

func TestCollateralRefused(t *testing.T) {
	q, col := quote(t), load(t, "collateral.json")
	var base map[string]any
	if err := json.Unmarshal(col, &base); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	replace := func(field, old, new string) []byte {
		return edit(func(m map[string]any) {
			s := m[field].(string)
			if !strings.Contains(s, old) {
				t.Fatalf("%s lacks %q", field, old)
			}
			m[field] = strings.Replace(s, old, new, 1)
		})
	}
	for _, tc := range []struct {
		name string
		col  []byte
		now  time.Time
	}{
		{name: "tcb_info expired", col: col, now: time.Date(2023, 7, 19, 0, 0, 0, 0, time.UTC)},
		{name: "before tcb_info issued", col: col, now: time.Date(2023, 6, 17, 0, 0, 0, 0, time.UTC)},
		{name: "tcb_info altered", col: replace("tcb_info", `"tcbEvaluationDataNumber":15`, `"tcbEvaluationDataNumber":16`)},
		{name: "tcb_info status altered", col: replace("tcb_info", `"OutOfDate"`, `"UpToDate"`)},
		{name: "tcb_info signature altered", col: replace("tcb_info", `"signature":"`, `"signature":"00`)},
		{name: "tcb_info signature apart differs", col: edit(func(m map[string]any) { m["tcb_info_signature"] = strings.Repeat("00", 64) })},
		{name: "tcb_info without signature", col: edit(func(m map[string]any) {
			var resp map[string]json.RawMessage
			json.Unmarshal([]byte(m["tcb_info"].(string)), &resp)
			m["tcb_info"] = string(resp["tcbInfo"])
		})},
		{name: "qe_identity altered", col: replace("qe_identity", `"isvprodid":2`, `"isvprodid":3`)},
		{name: "pck_crl is the root's", col: edit(func(m map[string]any) { m["pck_crl"] = m["root_ca_crl"] })},
		{name: "root_ca_crl is the PCK CA's", col: edit(func(m map[string]any) { m["root_ca_crl"] = m["pck_crl"] })},
		{name: "tcb_info signed by the PCK CA chain", col: edit(func(m map[string]any) { m["tcb_info_issuer_chain"] = m["pck_crl_issuer_chain"] })},
		{name: "missing qe_identity", col: edit(func(m map[string]any) { delete(m, "qe_identity") })},
		{name: "pck_crl not a CRL", col: edit(func(m map[string]any) { m["pck_crl"] = "00" })},
		{name: "issuer chain not PEM", col: edit(func(m map[string]any) { m["tcb_info_issuer_chain"] = "nothing" })},
		{name: "not JSON", col: []byte("<collateral/>")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = at
			}
			_, err := NewVerifier().Verify(q, attest.VerifyOptions{Now: now, Collateral: tc.col})
			if !errors.Is(err, ErrCollateral) || !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("got %v, want ErrCollateral", err)
			}
		})
	}
}

func TestMatchLevel(t *testing.T) {
	comps := func(svn ...byte) []pcs.TcbComponent {
		out := make([]pcs.TcbComponent, 16)
		for i, s := range svn {
			out[i].Svn = s
		}
		return out
	}
	exts := &pcs.PckExtensions{TCB: pcs.PckCertTCB{PCESvn: 11, CPUSvnComponents: []byte{3, 3, 2, 2, 2, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}}}
	tee := []byte{3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	level := func(status pcs.TcbComponentStatus, pce uint16, sgx, tdx []pcs.TcbComponent) pcs.TcbLevel {
		var l pcs.TcbLevel
		l.Tcb.Pcesvn, l.Tcb.SgxTcbcomponents, l.Tcb.TdxTcbcomponents, l.TcbStatus = pce, sgx, tdx, status
		return l
	}
	newer := level(pcs.TcbComponentStatusUpToDate, 11, comps(3, 3, 2, 2, 2, 1, 0, 2), comps(3, 0, 5))
	current := level(pcs.TcbComponentStatusSwHardeningNeeded, 11, comps(3, 3, 2, 2, 2, 1, 0, 2), comps(3, 0, 4))
	older := level(pcs.TcbComponentStatusOutOfDate, 10, comps(2), comps(2))
	for _, tc := range []struct {
		name   string
		levels []pcs.TcbLevel
		want   pcs.TcbComponentStatus
	}{
		{name: "first level met", levels: []pcs.TcbLevel{current, older}, want: pcs.TcbComponentStatusSwHardeningNeeded},
		{name: "newest not met", levels: []pcs.TcbLevel{newer, current, older}, want: pcs.TcbComponentStatusSwHardeningNeeded},
		{name: "only older met", levels: []pcs.TcbLevel{newer, older}, want: pcs.TcbComponentStatusOutOfDate},
		{name: "none met", levels: []pcs.TcbLevel{newer}},
		{name: "PCE SVN too low", levels: []pcs.TcbLevel{level(pcs.TcbComponentStatusUpToDate, 12, comps(3), comps(3))}},
		{name: "wrong component count", levels: []pcs.TcbLevel{level(pcs.TcbComponentStatusUpToDate, 11, comps(3)[:15], comps(3))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := matchLevel(tc.levels, exts, tee)
			if tc.want == "" {
				if !errors.Is(err, ErrTCB) {
					t.Fatalf("got %v (%s), want ErrTCB", err, l.TcbStatus)
				}
				return
			}
			if err != nil || l.TcbStatus != tc.want {
				t.Fatalf("got %s, %v; want %s", l.TcbStatus, err, tc.want)
			}
		})
	}
	for s, ok := range map[pcs.TcbComponentStatus]bool{"UpToDate": true, "SWHardeningNeeded": true, "ConfigurationNeeded": true,
		"ConfigurationAndSWHardeningNeeded": true, "OutOfDate": false, "OutOfDateConfigurationNeeded": false, "Revoked": false, "": false} {
		if acceptable(s) != ok {
			t.Errorf("acceptable(%q) = %t", s, !ok)
		}
	}
}

func FuzzVerify(f *testing.F) {
	q := quote(f)
	f.Add(q)
	f.Add(published(f))
	f.Add(q[:1000])
	f.Add(q[:48])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := NewVerifier().Verify(b, attest.VerifyOptions{Now: at})
		if err == nil && (c == nil || !bytes.Equal(b, q)) {
			t.Fatal("accepted a quote other than the published one")
		}
	})
}

func FuzzParseCollateral(f *testing.F) {
	f.Add(load(f, "collateral.json"))
	f.Add([]byte(`{"pck_crl_issuer_chain":"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCollateral(b)
		if err == nil && (c.RootCACRL == "" || c.PCKCRL == "" || c.TCBInfoIssuerChain == "") {
			t.Fatal("parsed collateral lacks a part")
		}
		if err != nil && !errors.Is(err, ErrCollateral) {
			t.Fatalf("error %v is not ErrCollateral", err)
		}
	})
}
