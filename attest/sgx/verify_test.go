package sgx_test

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/sgx/sgxtest"
)

// realAt is when the real quote's collateral was current (the PCK leaf is
// valid 2022-12-05 to 2029-12-05; the TCB info 2022-12-19 to 2023-01-18;
// the QE identity 2022-12-16 to 2023-01-15).
var realAt = time.Unix(1671497404, 0) // 2022-12-20T00:50:04Z

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	realMRENCLAVE  = "68823bc62f409ee33a32ea270cfe45d4b19a6fb3c8570d7bc186cbe062398e8f"
	realMRSIGNER   = "9affcfae47b848ec2caf1c49b4b283531e1cc425f93582b36806e52a43d78d1a"
	realReportData = "026a69ced96c3e0295d16d6b388e057a137a14319671662a5844c7472f3c62ae0e3d3f99b77dd89b0fc1436c4fe96828391a52588a0f883455a18b8f5872e3f0"
)

func TestRealQuote(t *testing.T) {
	for _, tc := range []struct {
		name       string
		collateral []byte
		tcb, qe    string
	}{
		{"without collateral", nil, sgx.TCBUnknown, sgx.TCBUnknown},
		{"with collateral", read(t, "collateral.json"), "SWHardeningNeeded", "UpToDate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sgx.Verifier{}.Verify(read(t, "quote-v3.bin"), attest.VerifyOptions{Now: realAt, Collateral: tc.collateral})
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(c.Measurement) != realMRENCLAVE || hex.EncodeToString(c.Extra["mrsigner"]) != realMRSIGNER ||
				hex.EncodeToString(c.ReportData[:]) != realReportData || c.Platform != "sgx" || c.Simulated {
				t.Fatalf("claims %+v", c)
			}
			want := map[string]string{
				"tcb_status": tc.tcb, "qe_tcb_status": tc.qe, "debug": "false", "fmspc": "00606a000000",
				"isvprodid": "0", "isvsvn": "0", "pck_issuer": "Intel SGX PCK Platform CA", "attributes": "05000000000000000300000000000000",
			}
			for k, v := range want {
				if c.Details[k] != v {
					t.Errorf("%s = %q, want %q", k, c.Details[k], v)
				}
			}
			if tc.collateral != nil && c.Details["advisories"] != "INTEL-SA-00615,INTEL-SA-00657" {
				t.Errorf("advisories %q", c.Details["advisories"])
			}
			for k, v := range map[string]int{"isv_svn": 0, "pce_svn": 13, "cpu_svn.0": 7, "cpu_svn.1": 9, "cpu_svn.4": 255, "cpu_svn.15": 0} {
				if c.TCB[k] != v {
					t.Errorf("TCB %s = %d, want %d", k, c.TCB[k], v)
				}
			}
			if len(c.TCB) != 18 {
				t.Errorf("%d TCB components, want 18", len(c.TCB))
			}
			wantFresh := 0
			if tc.collateral != nil {
				wantFresh = 2
			}
			if len(c.Collateral) != wantFresh || wantFresh > 0 && (c.Collateral[0].Name != "tcb_info" || !c.Collateral[0].NextUpdate.Equal(time.Date(2023, 1, 18, 9, 40, 10, 0, time.UTC))) {
				t.Errorf("collateral freshness %v", c.Collateral)
			}
		})
	}
	if got := hex.EncodeToString(sha256Sum(sgx.Root().Raw)); got != sgx.RootFingerprint {
		t.Fatalf("embedded root fingerprint %s", got)
	}
}

func TestRealQuoteRefused(t *testing.T) {
	fake := mustPlatform(t)
	col := read(t, "collateral.json")
	for _, tc := range []struct {
		name string
		v    sgx.Verifier
		opts attest.VerifyOptions
		want error
	}{
		{"PCK not yet valid", sgx.Verifier{}, attest.VerifyOptions{Now: time.Date(2022, 12, 1, 0, 0, 0, 0, time.UTC)}, sgx.ErrChain},
		{"PCK expired", sgx.Verifier{}, attest.VerifyOptions{Now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, sgx.ErrChain},
		{"another root", sgx.Verifier{Root: fake.Root.Cert}, attest.VerifyOptions{Now: realAt}, sgx.ErrChain},
		{"TCB info expired", sgx.Verifier{}, attest.VerifyOptions{Now: time.Date(2023, 1, 17, 0, 0, 0, 0, time.UTC), Collateral: col}, sgx.ErrCollateral},
		{"TCB info not yet issued", sgx.Verifier{}, attest.VerifyOptions{Now: time.Date(2022, 12, 18, 0, 0, 0, 0, time.UTC), Collateral: col}, sgx.ErrCollateral},
		{"collateral chains to another root", sgx.Verifier{Root: fake.Root.Cert}, attest.VerifyOptions{Now: realAt, Collateral: col}, sgx.ErrChain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(read(t, "quote-v3.bin"), tc.opts)
			if !errors.Is(err, tc.want) || !errors.Is(err, attest.ErrBadEvidence) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRealQuoteMutations(t *testing.T) {
	q := read(t, "quote-v3.bin")
	opts := attest.VerifyOptions{Now: realAt}
	// Every byte up to the certification data (header, report, signature,
	// attestation key, QE report, QE signature, authentication data and the
	// certification data header), then every 5th byte of the PEM chain.
	certStart := 436 + 64 + 64 + 384 + 64 + 2 + 32 + 6
	for i := 0; i < len(q); i++ {
		if i >= certStart && (i-certStart)%5 != 0 && i != len(q)-1 {
			continue
		}
		b := bytes.Clone(q)
		b[i] ^= 0x01
		if _, err := (sgx.Verifier{}).Verify(b, opts); !errors.Is(err, attest.ErrBadEvidence) {
			// The chain's own root is never trusted (the pinned root is), and
			// a flipped bit in PEM whitespace may change nothing: only when
			// leaf and intermediate are unchanged may the quote verify.
			if err == nil && i >= certStart && bytes.Equal(pemCerts(b[certStart:], 2), pemCerts(q[certStart:], 2)) {
				continue
			}
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for n := 0; n < len(q); n += 7 {
		if _, err := (sgx.Verifier{}).Verify(q[:n], opts); !errors.Is(err, sgx.ErrMalformed) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := (sgx.Verifier{}).Verify(append(bytes.Clone(q), 0), opts); !errors.Is(err, sgx.ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
}

func pemCerts(b []byte, n int) []byte {
	var out []byte
	for range n {
		var blk *pemBlock
		blk, b = decodePEM(b)
		if blk == nil {
			return out
		}
		out = append(out, blk.Bytes...)
	}
	return out
}

// collateralEdits change one field of the real collateral; each must fail.
func TestCollateralMutations(t *testing.T) {
	q := read(t, "quote-v3.bin")
	var base map[string]string
	if err := json.Unmarshal(read(t, "collateral.json"), &base); err != nil {
		t.Fatal(err)
	}
	flipHex := func(s string) string {
		b, _ := hex.DecodeString(s)
		b[10] ^= 1
		return hex.EncodeToString(b)
	}
	for _, tc := range []struct {
		name string
		edit func(m map[string]string)
		want error
	}{
		{"tcb_info signature", func(m map[string]string) { m["tcb_info_signature"] = flipHex(m["tcb_info_signature"]) }, sgx.ErrCollateral},
		{"tcb_info text", func(m map[string]string) {
			m["tcb_info"] = strings.Replace(m["tcb_info"], `"pcesvn":13`, `"pcesvn":12`, 1)
		}, sgx.ErrCollateral},
		{"tcb_info fmspc", func(m map[string]string) {
			m["tcb_info"] = strings.Replace(m["tcb_info"], "00606A000000", "00606A000001", 1)
		}, sgx.ErrCollateral},
		{"tcb_info_issuer_chain missing the signer", func(m map[string]string) {
			m["tcb_info_issuer_chain"] = m["tcb_info_issuer_chain"][strings.Index(m["tcb_info_issuer_chain"], "-----END CERTIFICATE-----")+26:]
		}, sgx.ErrCollateral},
		{"tcb_info_issuer_chain empty", func(m map[string]string) { m["tcb_info_issuer_chain"] = "" }, sgx.ErrCollateral},
		{"qe_identity signature", func(m map[string]string) { m["qe_identity_signature"] = flipHex(m["qe_identity_signature"]) }, sgx.ErrCollateral},
		{"qe_identity text", func(m map[string]string) {
			m["qe_identity"] = strings.Replace(m["qe_identity"], `"isvprodid":1`, `"isvprodid":2`, 1)
		}, sgx.ErrCollateral},
		{"qe_identity_issuer_chain garbage", func(m map[string]string) {
			m["qe_identity_issuer_chain"] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}, sgx.ErrCollateral},
		{"signature not hex", func(m map[string]string) { m["qe_identity_signature"] = "zz" }, sgx.ErrCollateral},
		{"only one CRL", func(m map[string]string) { m["pck_crl"] = "3000" }, sgx.ErrCollateral},
		{"CRLs not DER", func(m map[string]string) { m["pck_crl"], m["root_ca_crl"] = "3000", "3000" }, sgx.ErrCollateral},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			tc.edit(m)
			col, _ := json.Marshal(m)
			if _, err := (sgx.Verifier{}).Verify(q, attest.VerifyOptions{Now: realAt, Collateral: col}); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "{", `{"tcb_info":""}`, "[]"} {
		if _, err := (sgx.Verifier{}).Verify(q, attest.VerifyOptions{Now: realAt, Collateral: []byte(bad + " ")}); !errors.Is(err, sgx.ErrCollateral) {
			t.Fatalf("collateral %q: %v", bad, err)
		}
	}
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

func TestFixtureQuotes(t *testing.T) {
	p := mustPlatform(t)
	v := sgx.Verifier{Root: p.Root.Cert}
	opts := attest.VerifyOptions{Now: sgxtest.Epoch}
	rep := sgxtest.Report{MRENCLAVE: [32]byte{1}, MRSIGNER: [32]byte{2}, Flags: sgx.FlagInit | sgx.FlagMode64Bit, XFRM: 3, ISVSVN: 7, ReportData: [64]byte{9, 9}}
	good := p.Quote(rep.Body(), nil)
	c, err := v.Verify(good, opts)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReportData != rep.ReportData || !bytes.Equal(c.Measurement, rep.MRENCLAVE[:]) || c.Details["isvsvn"] != "7" {
		t.Fatalf("claims %+v", c)
	}
	dbg := rep
	dbg.Flags |= sgx.FlagDebug
	if _, err := v.Verify(p.Quote(dbg.Body(), nil), opts); !errors.Is(err, sgx.ErrDebug) {
		t.Fatalf("debug enclave: %v", err)
	}
	if c, err := v.Verify(p.Quote(dbg.Body(), nil), attest.VerifyOptions{Now: sgxtest.Epoch, AllowDebug: true}); err != nil || c.Details["debug"] != "true" {
		t.Fatalf("debug allowed: %v", err)
	}
	// Chains that must not verify.
	expiredCA, _ := sgxtest.NewCA(&p.Root, "Truce Test SGX PCK Platform CA", sgxtest.Epoch.AddDate(-2, 0, 0), sgxtest.Epoch.AddDate(0, 0, -1), true, nil)
	other, _ := sgxtest.NewCA(nil, "Truce Test SGX Root CA", sgxtest.Epoch.AddDate(-1, 0, 0), sgxtest.Epoch.AddDate(1, 0, 0), true, nil)
	pemOf := func(cs ...*x509.Certificate) []byte {
		var b []byte
		for _, c := range cs {
			b = append(b, encodePEM(c.Raw)...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		cert []byte
		want error
	}{
		{"leaf only", pemOf(p.PCK.Cert), sgx.ErrMalformed},
		{"intermediate missing", pemOf(p.PCK.Cert, p.Root.Cert), sgx.ErrChain},
		{"intermediate replaced by an expired one of the same name", pemOf(p.PCK.Cert, expiredCA.Cert, p.Root.Cert), sgx.ErrChain},
		{"root replaced by one of the same name", pemOf(p.PCK.Cert, p.PCKCA.Cert, other.Cert), nil},
		{"leaf is the intermediate", pemOf(p.PCKCA.Cert, p.PCKCA.Cert, p.Root.Cert), sgx.ErrSignature},
		{"not PEM", []byte("junk"), sgx.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(p.Quote(rep.Body(), tc.cert), opts)
			if tc.want == nil {
				// The pinned root is used, not the one in the quote: still verifies.
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := (sgx.Verifier{}).Verify(good, opts); !errors.Is(err, sgx.ErrChain) {
		t.Fatalf("fixture quote against Intel's root: %v", err)
	}
}

func TestCRLs(t *testing.T) {
	p := mustPlatform(t)
	v := sgx.Verifier{Root: p.Root.Cert}
	rep := sgxtest.Report{MRENCLAVE: [32]byte{1}}
	q := p.Quote(rep.Body(), nil)
	// Fixture collateral: the real TCB info and QE identity cannot be
	// used with the test root, so only the CRL part is exercised here,
	// through checkCRLs' public effect on a collateral whose TCB info the
	// test root signs.
	col := fixtureCollateral(t, p)
	now := sgxtest.Epoch
	mk := func(ca sgxtest.CA, from, to time.Time, revoked ...*x509.Certificate) string {
		der, err := sgxtest.CRL(ca, from, to, revoked...)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(der)
	}
	day := 24 * time.Hour
	for _, tc := range []struct {
		name        string
		root, pck   string
		want        error
		wantChecked bool
	}{
		{"none", "", "", nil, false},
		{"current, nothing revoked", mk(p.Root, now.Add(-day), now.Add(day)), mk(p.PCKCA, now.Add(-day), now.Add(day)), nil, true},
		{"PCK revoked", mk(p.Root, now.Add(-day), now.Add(day)), mk(p.PCKCA, now.Add(-day), now.Add(day), p.PCK.Cert), sgx.ErrChain, false},
		{"intermediate revoked", mk(p.Root, now.Add(-day), now.Add(day), p.PCKCA.Cert), mk(p.PCKCA, now.Add(-day), now.Add(day)), sgx.ErrChain, false},
		{"PCK CRL expired", mk(p.Root, now.Add(-day), now.Add(day)), mk(p.PCKCA, now.Add(-2*day), now.Add(-day)), sgx.ErrCollateral, false},
		{"PCK CRL signed by the root", mk(p.Root, now.Add(-day), now.Add(day)), mk(p.Root, now.Add(-day), now.Add(day)), sgx.ErrCollateral, false},
		{"root CRL signed by the intermediate", mk(p.PCKCA, now.Add(-day), now.Add(day)), mk(p.PCKCA, now.Add(-day), now.Add(day)), sgx.ErrCollateral, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col.RootCACRL, col.PCKCRL = tc.root, tc.pck
			b, _ := json.Marshal(col)
			c, err := v.Verify(q, attest.VerifyOptions{Now: now, Collateral: b})
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Details["crls_checked"] == "true"; got != tc.wantChecked {
				t.Fatalf("crls_checked %v", got)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(read(f, "quote-v3.bin"))
	f.Add(make([]byte, 1100))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := sgx.Verifier{}.Verify(b, attest.VerifyOptions{Now: realAt, AllowDebug: true})
		if err == nil && c == nil {
			t.Fatal("nil claims without error")
		}
		if err != nil && !errors.Is(err, attest.ErrBadEvidence) {
			t.Fatalf("error not ErrBadEvidence: %v", err)
		}
	})
}

func FuzzCollateral(f *testing.F) {
	f.Add(read(f, "collateral.json"))
	f.Add([]byte(`{"tcb_info":"{}","qe_identity":"{}","tcb_info_issuer_chain":"x","qe_identity_issuer_chain":"x"}`))
	q := read(f, "quote-v3.bin")
	f.Fuzz(func(t *testing.T, col []byte) {
		if len(col) == 0 {
			return
		}
		_, err := sgx.Verifier{}.Verify(q, attest.VerifyOptions{Now: realAt, Collateral: col})
		if err != nil && !errors.Is(err, attest.ErrBadEvidence) {
			t.Fatalf("error not ErrBadEvidence: %v", err)
		}
	})
}
