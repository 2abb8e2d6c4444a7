package snp

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify/trust"
	"google.golang.org/protobuf/proto"

	"github.com/truce-project/truce/attest"
)

// at is a time inside the validity of the real VCEK in testdata
// (2022-09-24 to 2029-09-24).
var at = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func load(t testing.TB) (report, vcek []byte) {
	t.Helper()
	r, err := os.ReadFile("testdata/attestation.bin")
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile("testdata/vcek.testcer")
	if err != nil {
		t.Fatal(err)
	}
	return r, k
}

func opts(vcek []byte) attest.VerifyOptions {
	// The published report comes from a VM launched with debug allowed.
	return attest.VerifyOptions{Key: vcek, Now: at, AllowDebug: true}
}

func TestRealMilanReport(t *testing.T) {
	report, vcek := load(t)
	v := NewVerifier()
	c, err := v.Verify(report, opts(vcek))
	if err != nil {
		t.Fatalf("real Milan report refused: %v", err)
	}
	if c.Platform != "snp" || c.Simulated {
		t.Errorf("platform %q simulated %t", c.Platform, c.Simulated)
	}
	wantM := "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
	if got := hex.EncodeToString(c.Measurement); got != wantM {
		t.Errorf("measurement %s, want %s", got, wantM)
	}
	if !bytes.Equal(c.ReportData[:5], []byte{1, 2, 3, 4, 5}) || !bytes.Equal(c.ReportData[5:], make([]byte, 59)) {
		t.Errorf("report data %x", c.ReportData)
	}
	for name, size := range map[string]int{"host_data": 32, "id_key_digest": 48, "author_key_digest": 48} {
		if len(c.Extra[name]) != size {
			t.Errorf("extra %s is %d bytes, want %d", name, len(c.Extra[name]), size)
		}
	}
	for k, want := range map[string]string{"product": "milan", "signing_key": "VCEK", "debug": "true", "vmpl": "0", "version": "2"} {
		if c.Details[k] != want {
			t.Errorf("detail %s = %q, want %q", k, c.Details[k], want)
		}
	}
	// REPORTED_TCB 0x4405000000000002, component by component.
	if want := map[string]int{"bootloader": 2, "tee": 0, "snp": 5, "microcode": 68}; !maps.Equal(c.TCB, want) {
		t.Errorf("TCB %v, want %v", c.TCB, want)
	}
	// PEM works as well as DER, and the product compares case-insensitively.
	o := opts(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: vcek}))
	o.Product = "MILAN"
	if _, err := v.Verify(report, o); err != nil {
		t.Errorf("PEM VCEK with product MILAN refused: %v", err)
	}
}

func TestRefused(t *testing.T) {
	report, vcek := load(t)
	ask := trust.DefaultRootCerts["Milan"].ProductCerts.Ask.Raw
	flipped := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 0x01; return c }
	for _, tc := range []struct {
		name    string
		report  []byte
		edit    func(*attest.VerifyOptions)
		wantErr error
	}{
		{name: "debug not allowed", report: report, edit: func(o *attest.VerifyOptions) { o.AllowDebug = false }, wantErr: ErrDebug},
		{name: "no VCEK", report: report, edit: func(o *attest.VerifyOptions) { o.Key = nil }, wantErr: ErrNoEndorsementKey},
		{name: "before the VCEK is valid", report: report, edit: func(o *attest.VerifyOptions) { o.Now = time.Date(2022, 9, 23, 0, 0, 0, 0, time.UTC) }},
		{name: "after the VCEK expired", report: report, edit: func(o *attest.VerifyOptions) { o.Now = time.Date(2029, 9, 25, 0, 0, 0, 0, time.UTC) }},
		{name: "wrong product roots", report: report, edit: func(o *attest.VerifyOptions) { o.Product = "genoa" }},
		{name: "unknown product", report: report, edit: func(o *attest.VerifyOptions) { o.Product = "zen9" }, wantErr: ErrUnknownProduct},
		{name: "ASK given as VCEK", report: report, edit: func(o *attest.VerifyOptions) { o.Key = ask }},
		{name: "VCEK signature altered", report: report, edit: func(o *attest.VerifyOptions) { o.Key = flipped(vcek, len(vcek)-10) }},
		{name: "VCEK public key altered", report: report, edit: func(o *attest.VerifyOptions) { o.Key = flipped(vcek, bytes.Index(vcek, mustKey(t, vcek))+40) }},
		{name: "VCEK not DER", report: report, edit: func(o *attest.VerifyOptions) { o.Key = []byte("not a certificate") }},
		{name: "PEM of another type", report: report, edit: func(o *attest.VerifyOptions) {
			o.Key = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: vcek})
		}},
		{name: "truncated", report: report[:ReportSize-1]},
		{name: "trailing byte", report: append(bytes.Clone(report), 0)},
		{name: "empty", report: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts(vcek)
			if tc.edit != nil {
				tc.edit(&o)
			}
			c, err := NewVerifier().Verify(tc.report, o)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, attest.ErrBadEvidence) {
				t.Errorf("error %v does not wrap ErrBadEvidence", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
		})
	}
}

func mustKey(t *testing.T, der []byte) []byte {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c.RawSubjectPublicKeyInfo
}

// TestMutatedReport flips a bit in every field of the report, and every
// fourth byte besides: the signature covers the fields and the signature
// itself must verify, so every copy is refused.
func TestMutatedReport(t *testing.T) {
	report, vcek := load(t)
	fields := []struct {
		name      string
		off, size int
	}{
		{"version", 0x00, 4}, {"guest_svn", 0x04, 4}, {"policy", 0x08, 8}, {"family_id", 0x10, 16},
		{"image_id", 0x20, 16}, {"vmpl", 0x30, 4}, {"signature_algo", 0x34, 4}, {"current_tcb", 0x38, 8},
		{"platform_info", 0x40, 8}, {"signer_info", 0x48, 4}, {"report_data", 0x50, 64},
		{"measurement", 0x90, 48}, {"host_data", 0xC0, 32}, {"id_key_digest", 0xE0, 48},
		{"author_key_digest", 0x110, 48}, {"report_id", 0x140, 32}, {"report_id_ma", 0x160, 32},
		{"reported_tcb", 0x180, 8}, {"chip_id", 0x1A0, 64}, {"committed_tcb", 0x1E0, 8},
		{"current_version", 0x1E8, 4}, {"committed_version", 0x1F0, 4}, {"launch_tcb", 0x1F8, 8},
		{"signature_r", 0x2A0, 72}, {"signature_s", 0x2E8, 72}, {"signature_reserved", 0x330, 0x170},
	}
	v := NewVerifier()
	for _, f := range fields {
		for _, i := range []int{f.off, f.off + f.size/2, f.off + f.size - 1} {
			m := bytes.Clone(report)
			m[i] ^= 0x01
			if _, err := v.Verify(m, opts(vcek)); err == nil {
				t.Errorf("%s: report with byte %#x flipped accepted", f.name, i)
			} else if !errors.Is(err, attest.ErrBadEvidence) {
				t.Errorf("%s: %v does not wrap ErrBadEvidence", f.name, err)
			}
		}
	}
	for i := 0; i < len(report); i += 4 {
		m := bytes.Clone(report)
		m[i] ^= 0x80
		if _, err := v.Verify(m, opts(vcek)); err == nil {
			t.Errorf("report with byte %#x flipped accepted", i)
		}
	}
}

// TestCheckReport checks the guest-policy and TCB rules on reports whose
// signature is not the point: a verified report edited after the fact.
func TestCheckReport(t *testing.T) {
	raw, vcek := load(t)
	base, err := abi.ReportToProto(raw)
	if err != nil {
		t.Fatal(err)
	}
	const debugBit, migrateBit = 1 << 19, 1 << 18
	for _, tc := range []struct {
		name       string
		edit       func(*spb.Report)
		allowDebug bool
		ok         bool
		wantErr    error
	}{
		{name: "as published, debug allowed", allowDebug: true, ok: true},
		{name: "as published, debug refused", wantErr: ErrDebug},
		{name: "without debug", edit: func(r *spb.Report) { r.Policy &^= debugBit }, ok: true},
		{name: "migration agent", edit: func(r *spb.Report) { r.Policy &^= debugBit; r.Policy |= migrateBit }},
		{name: "reported TCB not the VCEK's", edit: func(r *spb.Report) { r.Policy &^= debugBit; r.ReportedTcb-- }},
		{name: "current TCB below the VCEK's", edit: func(r *spb.Report) { r.Policy &^= debugBit; r.CurrentTcb = 0 }},
		{name: "committed above current", edit: func(r *spb.Report) { r.Policy &^= debugBit; r.CommittedTcb++ }},
		{name: "chip id not the VCEK's", edit: func(r *spb.Report) { r.Policy &^= debugBit; r.ChipId[0] ^= 1 }},
		{name: "reserved policy bit clear", edit: func(r *spb.Report) { r.Policy &^= 1 << 17 }, allowDebug: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := proto.Clone(base).(*spb.Report)
			if tc.edit != nil {
				tc.edit(r)
			}
			att := &spb.Attestation{Report: r, CertificateChain: &spb.CertificateChain{VcekCert: vcek}}
			err := checkReport(att, tc.allowDebug)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, attest.ErrBadEvidence) {
				t.Errorf("%v does not wrap ErrBadEvidence", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("%v does not wrap %v", err, tc.wantErr)
			}
		})
	}
}

// TestBuiltInRoots: every product has VCEK and VLEK roots, each a
// self-signed ARK certifying its ASK or ASVK.
func TestBuiltInRoots(t *testing.T) {
	for _, p := range Products() {
		line, _ := ProductLine(p)
		for _, key := range []abi.ReportSigner{abi.VcekReportSigner, abi.VlekReportSigner} {
			r, err := roots(line, key)
			if err != nil {
				t.Fatalf("%s %v: %v", line, key, err)
			}
			pc := r.ProductCerts
			mid := pc.Ask
			if key == abi.VlekReportSigner {
				mid = pc.Asvk
			}
			if pc.Ark == nil || mid == nil {
				t.Fatalf("%s %v: ARK %v, intermediate %v", line, key, pc.Ark != nil, mid != nil)
			}
			if err := mid.CheckSignatureFrom(pc.Ark); err != nil {
				t.Errorf("%s %v: intermediate not signed by the ARK: %v", line, key, err)
			}
		}
	}
}

func TestProducts(t *testing.T) {
	ps := Products()
	for _, want := range []string{"genoa", "milan", "turin"} {
		found := false
		for _, p := range ps {
			found = found || p == want
		}
		if !found {
			t.Errorf("built-in roots lack %s: %v", want, ps)
		}
	}
	if l, err := ProductLine("gEnOa"); err != nil || l != "Genoa" {
		t.Errorf("ProductLine(gEnOa) = %q, %v", l, err)
	}
}

// FuzzVerify: any bytes as a report (and any key) never panic, and nothing
// but the published report verifies against its VCEK.
func FuzzVerify(f *testing.F) {
	report, vcek := load(f)
	f.Add(report, vcek)
	f.Add(report[:100], vcek)
	f.Add(make([]byte, ReportSize), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, ev, key []byte) {
		c, err := NewVerifier().Verify(ev, attest.VerifyOptions{Key: key, Now: at, AllowDebug: true})
		if err == nil && (!bytes.Equal(ev, report) || c == nil) {
			t.Fatalf("accepted a report other than the published one")
		}
	})
}

// fakeKDS serves the published VCEK at the URL AMD's KDS has it under.
type fakeKDS struct {
	vcek  []byte
	gets  []string
	serve bool
}

func (k *fakeKDS) Get(url string) ([]byte, error) {
	k.gets = append(k.gets, url)
	const want = "https://kdsintf.amd.com/vcek/v1/Milan/3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68"
	if url != want || !k.serve {
		return nil, errors.New("404 Not Found")
	}
	return k.vcek, nil
}

// TestFetchVCEK: without a key, a verifier with Fetch gets the VCEK from
// the KDS by chip ID and reported TCB, keeps it, and still checks it
// against the built-in roots.
func TestFetchVCEK(t *testing.T) {
	report, vcek := load(t)
	kds := &fakeKDS{vcek: vcek, serve: true}
	v := &Verifier{Fetch: kds}
	o := attest.VerifyOptions{Now: at, AllowDebug: true}
	if _, err := v.Verify(report, o); err != nil {
		t.Fatalf("with the VCEK from the KDS: %v", err)
	}
	asked := len(kds.gets)
	if _, err := v.Verify(report, o); err != nil {
		t.Fatalf("with the kept VCEK: %v", err)
	}
	if len(kds.gets) != asked {
		t.Errorf("KDS asked again for a VCEK already fetched: %v", kds.gets)
	}
	o.Product = "milan"
	if _, err := (&Verifier{Fetch: kds}).Verify(report, o); err != nil || len(kds.gets) != asked+1 {
		t.Errorf("with --product milan: %v, %d more requests, want 1", err, len(kds.gets)-asked)
	}
	o.Product = ""
	// Not served: refused, saying what to do.
	_, err := (&Verifier{Fetch: &fakeKDS{}}).Verify(report, o)
	if !errors.Is(err, ErrNoEndorsementKey) || !strings.Contains(err.Error(), "--vcek") {
		t.Errorf("KDS without the VCEK: %v", err)
	}
	// Served something that is not AMD's: refused by the chain check.
	ask := trust.DefaultRootCerts["Milan"].ProductCerts.Ask.Raw
	if _, err := (&Verifier{Fetch: &fakeKDS{vcek: ask, serve: true}}).Verify(report, o); err == nil {
		t.Error("a KDS answer that is not the VCEK accepted")
	}
	// The zero value never fetches.
	if _, err := NewVerifier().Verify(report, o); !errors.Is(err, ErrNoEndorsementKey) {
		t.Errorf("zero Verifier without a key: %v", err)
	}
}
