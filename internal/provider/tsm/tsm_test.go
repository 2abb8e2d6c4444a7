package tsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/faketsm"
	sevclient "github.com/google/go-sev-guest/client"
	sevlabi "github.com/google/go-sev-guest/client/linuxabi"
	sevpb "github.com/google/go-sev-guest/proto/sevsnp"
	tdxclient "github.com/google/go-tdx-guest/client"
	tdxlabi "github.com/google/go-tdx-guest/client/linuxabi"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/cca"
	"github.com/truce-project/truce/attest/snp"
	"github.com/truce-project/truce/attest/tdx"
)

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeTree is a configfs-tsm report subsystem whose provider returns out
// (for any inblob) and records what was written.
type fakeTree struct {
	provider string
	out      func(inblob []byte) []byte
	aux      []byte
	inblobs  atomic.Int32
	priv     atomic.Value
}

func (f *fakeTree) client() configfsi.Client {
	sub := &faketsm.ReportSubsystem{
		MakeEntry: func() *faketsm.ReportEntry {
			// The kernel's provider attribute is readable before any write.
			return &faketsm.ReportEntry{InAttrs: map[string]*faketsm.ReportAttributeState{
				"privlevel": {Value: []byte("0\n")},
				"inblob":    {},
			}, ROAttrs: map[string][]byte{"provider": []byte(f.provider + "\n")}}
		},
		CheckInAttr: func(e *faketsm.ReportEntry, attr string, contents []byte) error {
			switch attr {
			case "inblob":
				if len(contents) > 64 {
					return syscall.EINVAL
				}
				f.inblobs.Add(1)
			case "privlevel":
				f.priv.Store(string(contents))
			default:
				return fmt.Errorf("unwritable attribute %q", attr)
			}
			return nil
		},
		ReadAttr: func(e *faketsm.ReportEntry, attr string) ([]byte, error) {
			switch attr {
			case "provider":
				return []byte(f.provider + "\n"), nil
			case "outblob":
				in := e.InAttrs["inblob"]
				if in == nil || len(in.Value) == 0 {
					return nil, syscall.EINVAL
				}
				return f.out(in.Value), nil
			case "auxblob":
				return f.aux, nil
			}
			return nil, os.ErrNotExist
		},
		Random: strings.NewReader(strings.Repeat("0123456789abcdef", 1024)),
	}
	return &faketsm.Client{Subsystems: map[string]configfsi.Client{"report": sub}}
}

// TestConfigfsRealEvidence: each published piece of evidence, served by a
// fake configfs-tsm tree as the kernel's driver of its platform would,
// comes out of the provider unchanged and verifies.
func TestConfigfsRealEvidence(t *testing.T) {
	snpReport := read(t, "../../../attest/snp/testdata/attestation.bin")
	vcek := read(t, "../../../attest/snp/testdata/vcek.testcer")
	tdxQuote := read(t, "../../../attest/tdx/testdata/tdx_prod_quote_SPR_E4.dat")
	tdxQuote = tdxQuote[:len(tdxQuote)-len("\nextra bytes(only for testing purpose)\n")]
	ccaToken := read(t, "../../../attest/cca/testdata/cca_token.cbor")
	cpak := read(t, "../../../attest/cca/testdata/cca_platform.pub")
	for _, tc := range []struct {
		provider, platform string
		evidence           []byte
		rdOffset           int
		verifier           attest.Verifier
		opts               attest.VerifyOptions
	}{
		{"sev_guest", "snp", snpReport, 0x50, snp.NewVerifier(), attest.VerifyOptions{Key: vcek, AllowDebug: true, Now: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)}},
		{"tdx_guest", "tdx", tdxQuote, 568, tdx.NewVerifier(), attest.VerifyOptions{Now: time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)}},
		{"arm_cca_guest", "cca", ccaToken, -1, cca.NewVerifier(), attest.VerifyOptions{Key: cpak}},
	} {
		t.Run(tc.platform, func(t *testing.T) {
			tree := &fakeTree{provider: tc.provider, out: func([]byte) []byte { return tc.evidence }}
			p, err := Open(Config{Client: tree.client(), Fallbacks: []Device{}})
			if err != nil {
				t.Fatal(err)
			}
			if p.Platform() != tc.platform {
				t.Fatalf("platform %q, want %q", p.Platform(), tc.platform)
			}
			var rd [64]byte
			if tc.rdOffset >= 0 {
				copy(rd[:], tc.evidence[tc.rdOffset:])
			}
			ev, err := p.Evidence(context.Background(), rd)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ev, tc.evidence) {
				t.Fatal("evidence changed on the way")
			}
			if tree.inblobs.Load() != 1 {
				t.Errorf("inblob written %d times, want 1", tree.inblobs.Load())
			}
			c, err := tc.verifier.Verify(ev, tc.opts)
			if err != nil {
				t.Fatalf("evidence from the provider does not verify: %v", err)
			}
			if tc.rdOffset >= 0 && c.ReportData != rd {
				t.Errorf("verified report data %x, asked for %x", c.ReportData, rd)
			}
			if tc.rdOffset >= 0 {
				// Evidence over other report data than asked for is refused.
				rd[0] ^= 1
				if _, err := p.Evidence(context.Background(), rd); err == nil {
					t.Error("evidence over other report data accepted")
				}
			}
		})
	}
}

// TestConfigfsInblob: the report data goes to the kernel as inblob, and
// the privilege level when one is set.
func TestConfigfsInblob(t *testing.T) {
	tree := &fakeTree{provider: "sev_guest", out: func(in []byte) []byte {
		r := make([]byte, 1184)
		copy(r[0x50:], in)
		return r
	}}
	lvl := uint(2)
	p, err := Open(Config{Client: tree.client(), Privilege: &lvl, Fallbacks: []Device{}})
	if err != nil {
		t.Fatal(err)
	}
	rd := [64]byte{1, 2, 3, 63: 9}
	ev, err := p.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev[0x50:0x90], rd[:]) {
		t.Errorf("report data %x, want %x", ev[0x50:0x90], rd)
	}
	if got, _ := tree.priv.Load().(string); strings.TrimSpace(got) != "2" {
		t.Errorf("privlevel written %q, want 2", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Evidence(ctx, rd); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestConfigfsRefused(t *testing.T) {
	t.Run("unknown provider", func(t *testing.T) {
		tree := &fakeTree{provider: "fake", out: func(in []byte) []byte { return in }}
		_, err := Open(Config{Client: tree.client(), Fallbacks: []Device{}})
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), `unknown report provider "fake"`) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("short SEV-SNP report", func(t *testing.T) {
		tree := &fakeTree{provider: "sev_guest", out: func(in []byte) []byte { return make([]byte, 100) }}
		p, err := Open(Config{Client: tree.client(), Fallbacks: []Device{}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Evidence(context.Background(), [64]byte{}); err == nil {
			t.Error("short report accepted")
		}
	})
	t.Run("provider changes", func(t *testing.T) {
		tree := &fakeTree{provider: "tdx_guest", out: func(in []byte) []byte { return in }}
		p, err := Open(Config{Client: tree.client(), Fallbacks: []Device{}})
		if err != nil {
			t.Fatal(err)
		}
		tree.provider = "sev_guest"
		if _, err := p.Evidence(context.Background(), [64]byte{}); err == nil || !strings.Contains(err.Error(), "provider") {
			t.Errorf("got %v, want a provider mismatch", err)
		}
	})
}

type noDevice struct{ platform string }

func (d noDevice) Platform() string { return d.platform }
func (d noDevice) Probe() error     { return os.ErrNotExist }
func (d noDevice) Evidence(context.Context, [64]byte) ([]byte, error) {
	return nil, os.ErrNotExist
}

func TestNothingAvailable(t *testing.T) {
	// A client with no report subsystem, as where configfs-tsm is absent.
	empty := &faketsm.Client{Subsystems: map[string]configfsi.Client{}}
	_, err := Open(Config{Client: empty, Fallbacks: []Device{noDevice{"snp"}, noDevice{"tdx"}}})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	for _, want := range []string{"configfs-tsm", "snp device", "tdx device"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v does not say it tried %s", err, want)
		}
	}
}

// sevDevice answers the SEV guest report ioctl with a fixed report for one
// report data.
type sevDevice struct {
	rd     [64]byte
	report []byte
}

func (d *sevDevice) Open(string) error { return nil }
func (d *sevDevice) Close() error      { return nil }
func (d *sevDevice) Product() *sevpb.SevProduct {
	return &sevpb.SevProduct{Name: sevpb.SevProduct_SEV_PRODUCT_MILAN}
}
func (d *sevDevice) Ioctl(cmd uintptr, req any) (uintptr, error) {
	r, ok := req.(*sevlabi.SnpUserGuestRequest)
	if !ok || cmd != sevlabi.IocSnpGetReport {
		return 0, fmt.Errorf("unexpected ioctl %T", req)
	}
	in := r.ReqData.(*sevlabi.SnpReportReqABI)
	if in.ReportData != d.rd {
		return 0, errors.New("unexpected report data")
	}
	copy(r.RespData.(*sevlabi.SnpReportRespABI).Data[:], d.report)
	return 0, nil
}

// TestSEVGuestFallback: with configfs-tsm absent, the /dev/sev-guest
// fallback (here a fake device answering with the published report) is
// used.
func TestSEVGuestFallback(t *testing.T) {
	report := read(t, "../../../attest/snp/testdata/attestation.bin")
	var rd [64]byte
	copy(rd[:], report[0x50:])
	dev := &sevDevice{rd: rd, report: report}
	fb := SEVGuest{Open: func() (sevclient.Device, error) { return dev, nil }}
	p, err := Open(Config{Client: &faketsm.Client{}, Fallbacks: []Device{noDevice{"tdx"}, fb}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Platform() != "snp" {
		t.Fatalf("platform %q", p.Platform())
	}
	ev, err := p.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev, report) {
		t.Error("report changed on the way")
	}
	rd[1] ^= 1
	if _, err := p.Evidence(context.Background(), rd); err == nil {
		t.Error("device without an answer for the report data: no error")
	}
}

// tdxDevice answers the TDX guest ioctls with a fixed quote for one
// TDREPORT.
type tdxDevice struct {
	rd    [64]byte
	quote []byte
}

func (d *tdxDevice) Open(string) error { return nil }
func (d *tdxDevice) Close() error      { return nil }
func (d *tdxDevice) Ioctl(cmd uintptr, req any) (uintptr, error) {
	switch r := req.(type) {
	case *tdxlabi.TdxReportReq:
		if r.ReportData != d.rd {
			return 0, errors.New("unexpected report data")
		}
		copy(r.TdReport[:], "TDREPORT")
		return 0, nil
	case *tdxlabi.TdxQuoteReq:
		h := r.Buffer.(*tdxlabi.TdxQuoteHdr)
		if !bytes.HasPrefix(h.Data[:], []byte("TDREPORT")) {
			return 0, errors.New("quote request without the TD report")
		}
		h.OutLen = uint32(copy(h.Data[:], d.quote))
		return 0, nil
	}
	return 0, fmt.Errorf("unexpected ioctl %T", req)
}

func TestTDXGuestFallback(t *testing.T) {
	q := read(t, "../../../attest/tdx/testdata/tdx_prod_quote_SPR_E4.dat")
	q = q[:len(q)-len("\nextra bytes(only for testing purpose)\n")]
	var rd [64]byte
	copy(rd[:], q[568:])
	dev := &tdxDevice{rd: rd, quote: q}
	p, err := Open(Config{Client: &faketsm.Client{}, Fallbacks: []Device{noDevice{"snp"}, TDXGuest{Open: func() (tdxclient.Device, error) { return dev, nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := p.Evidence(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev, q) {
		t.Error("quote changed on the way")
	}
	if _, err := tdx.NewVerifier().Verify(ev, attest.VerifyOptions{Now: time.Date(2023, 7, 1, 1, 0, 0, 0, time.UTC)}); err != nil {
		t.Errorf("quote from the fallback does not verify: %v", err)
	}
}

func TestEndorsementKey(t *testing.T) {
	if _, err := EndorsementKey([]byte("garbage")); err == nil {
		t.Error("garbage certificate table accepted")
	}
	if _, err := EndorsementKey(make([]byte, 24)); err == nil {
		t.Error("empty certificate table gave a key")
	}
}

func TestOpenPlatform(t *testing.T) {
	tree := &fakeTree{provider: "tdx_guest", out: func(in []byte) []byte { return in }}
	if p, err := OpenPlatform("tdx", Config{Client: tree.client(), Fallbacks: []Device{}}); err != nil || p.Platform() != "tdx" {
		t.Errorf("tdx VM as tdx: %v", err)
	}
	if _, err := OpenPlatform("snp", Config{Client: tree.client(), Fallbacks: []Device{}}); !errors.Is(err, ErrWrongPlatform) {
		t.Errorf("tdx VM as snp: %v, want ErrWrongPlatform", err)
	}
}
