// Package tsm provides attestation evidence inside a confidential VM: AMD
// SEV-SNP reports, Intel TDX quotes and Arm CCA tokens, through Linux's
// configfs-tsm report interface (/sys/kernel/config/tsm/report, Linux 6.7
// and later), with the older /dev/sev-guest and /dev/tdx_guest devices as
// fallbacks.
//
// Open finds what the VM offers and returns an attest.Provider whose
// Platform is "snp", "tdx" or "cca". The configfs client and the fallback
// devices are injected through Config, whose zero value uses the kernel's.
//
// It must never return evidence over other report data than it was asked
// for, nor evidence from a provider other than the one it reported; it
// never verifies evidence (attest/snp, attest/tdx and attest/cca do), and
// it is never imported by a verifier or a client: the enclave runtime is
// its only user.
package tsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-configfs-tsm/configfs/configfsi"
	"github.com/google/go-configfs-tsm/configfs/linuxtsm"
	"github.com/google/go-configfs-tsm/report"
	sevabi "github.com/google/go-sev-guest/abi"
	sevclient "github.com/google/go-sev-guest/client"
	tdxclient "github.com/google/go-tdx-guest/client"

	"github.com/truce-project/truce/attest"
)

// ErrUnavailable: neither configfs-tsm nor a fallback device is usable;
// the process is not in a confidential VM, or lacks the rights.
var ErrUnavailable = errors.New("no confidential-VM attestation interface")

// Platforms by configfs-tsm provider name, as the kernel's drivers report it.
var providers = map[string]string{
	"sev_guest":     "snp",
	"tdx_guest":     "tdx",
	"arm_cca_guest": "cca",
}

// Device is a fallback evidence source: a guest device used where
// configfs-tsm is not.
type Device interface {
	attest.Provider
	// Probe reports whether the device is usable, without producing
	// evidence.
	Probe() error
}

// Config says where evidence comes from. The zero value uses the kernel's
// configfs-tsm, then /dev/sev-guest, then /dev/tdx_guest.
type Config struct {
	// Client is the configfs client; nil means the kernel's
	// (/sys/kernel/config/tsm).
	Client configfsi.Client
	// Privilege is the SEV-SNP VMPL to request reports at; nil leaves the
	// kernel's default.
	Privilege *uint
	// Fallbacks are tried in order when configfs-tsm is unusable; nil
	// means SEVGuest{} then TDXGuest{}. An empty, non-nil slice means
	// none.
	Fallbacks []Device
}

// Open returns a provider for the confidential VM the process runs in, or
// an error wrapping ErrUnavailable that says what was tried.
func Open(cfg Config) (attest.Provider, error) {
	var tried []string
	client := cfg.Client
	if client == nil {
		c, err := linuxtsm.MakeClient()
		if err != nil {
			tried = append(tried, fmt.Sprintf("configfs-tsm: %v", err))
		} else {
			client = c
		}
	}
	if client != nil {
		p, err := probe(client, cfg.Privilege)
		if err == nil {
			return p, nil
		}
		tried = append(tried, fmt.Sprintf("configfs-tsm: %v", err))
	}
	fallbacks := cfg.Fallbacks
	if fallbacks == nil {
		fallbacks = []Device{SEVGuest{}, TDXGuest{}}
	}
	for _, d := range fallbacks {
		if err := d.Probe(); err != nil {
			tried = append(tried, fmt.Sprintf("%s device: %v", d.Platform(), err))
			continue
		}
		return d, nil
	}
	return nil, fmt.Errorf("%w: tried %s; run inside an SEV-SNP, TDX or CCA guest (Linux 6.7+ with configfs mounted at /sys/kernel/config), as root", ErrUnavailable, strings.Join(tried, "; "))
}

// ErrWrongPlatform: the VM attests as another platform than the one asked
// for.
var ErrWrongPlatform = errors.New("confidential VM is of another platform")

// OpenPlatform is Open for a VM that must be of platform ("snp", "tdx" or
// "cca").
func OpenPlatform(platform string, cfg Config) (attest.Provider, error) {
	p, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	if p.Platform() != platform {
		return nil, fmt.Errorf("%w: it attests as %s, not %s", ErrWrongPlatform, p.Platform(), platform)
	}
	return p, nil
}

// Provider produces evidence through configfs-tsm.
type Provider struct {
	client    configfsi.Client
	platform  string
	provider  string
	privilege *uint
}

func probe(client configfsi.Client, priv *uint) (*Provider, error) {
	r, err := report.CreateOpenReport(client)
	if err != nil {
		return nil, err
	}
	name, err := r.ReadOption("provider")
	if derr := r.Destroy(); err == nil && derr != nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("reading the report provider: %w", err)
	}
	n := strings.TrimSpace(string(name))
	platform, ok := providers[n]
	if !ok {
		return nil, fmt.Errorf("unknown report provider %q", n)
	}
	return &Provider{client: client, platform: platform, provider: n, privilege: priv}, nil
}

// Platform returns "snp", "tdx" or "cca".
func (p *Provider) Platform() string { return p.platform }

// Evidence returns the platform's native evidence over reportData: the
// SEV-SNP report, the TDX quote or the CCA token.
func (p *Provider) Evidence(ctx context.Context, reportData [64]byte) ([]byte, error) {
	r, err := p.Report(ctx, reportData, false)
	if err != nil {
		return nil, err
	}
	return r.OutBlob, nil
}

// Report returns the whole configfs-tsm response over reportData; with aux,
// it includes the auxiliary blob (for SEV-SNP, the host's certificate
// table with the VCEK or VLEK; see EndorsementKey).
func (p *Provider) Report(ctx context.Context, reportData [64]byte, aux bool) (*report.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var priv *report.Privilege
	if p.privilege != nil {
		priv = &report.Privilege{Level: *p.privilege}
	}
	resp, err := report.Get(p.client, &report.Request{InBlob: reportData[:], Privilege: priv, GetAuxBlob: aux})
	if err != nil {
		return nil, fmt.Errorf("tsm: getting a %s report: %w", p.platform, err)
	}
	if got := strings.TrimSpace(resp.Provider); got != p.provider {
		return nil, fmt.Errorf("tsm: report came from provider %q, not %q", got, p.provider)
	}
	if err := checkReportData(p.platform, resp.OutBlob, reportData); err != nil {
		return nil, err
	}
	return resp, nil
}

// Offsets of the report data in the native evidence.
const (
	snpReportDataOffset = 0x50
	tdxReportDataOffset = 568
)

// checkReportData checks that evidence carries reportData where the
// platform puts it (the CCA token's challenge is inside CBOR and checked by
// the verifier).
func checkReportData(platform string, ev []byte, rd [64]byte) error {
	var off int
	switch platform {
	case "snp":
		if len(ev) != sevabi.ReportSize {
			return fmt.Errorf("tsm: SEV-SNP report is %d bytes, want %d", len(ev), sevabi.ReportSize)
		}
		off = snpReportDataOffset
	case "tdx":
		off = tdxReportDataOffset
	default:
		return nil
	}
	if len(ev) < off+64 || !bytes.Equal(ev[off:off+64], rd[:]) {
		return fmt.Errorf("tsm: %s evidence does not carry the report data asked for", platform)
	}
	return nil
}

// EndorsementKey returns the VCEK (or VLEK) certificate, DER, from an
// SEV-SNP certificate table (configfs-tsm's auxblob, or the extended
// report's certificates), for attest.VerifyOptions.Key.
func EndorsementKey(certTable []byte) ([]byte, error) {
	var t sevabi.CertTable
	if err := t.Unmarshal(certTable); err != nil {
		return nil, fmt.Errorf("tsm: malformed SEV-SNP certificate table: %w", err)
	}
	for _, guid := range []string{sevabi.VcekGUID, sevabi.VlekGUID} {
		if c, err := t.GetByGUIDString(guid); err == nil && len(c) > 0 {
			return c, nil
		}
	}
	return nil, errors.New("tsm: the certificate table holds no VCEK or VLEK; fetch the VCEK from AMD's KDS")
}

// SEVGuest produces SEV-SNP reports through Linux's /dev/sev-guest.
type SEVGuest struct {
	// Open opens the device; nil opens /dev/sev-guest.
	Open func() (sevclient.Device, error)
	// VMPL is the VMPL to request reports at.
	VMPL int
}

func (s SEVGuest) open() (sevclient.Device, error) {
	if s.Open != nil {
		return s.Open()
	}
	return sevclient.OpenDevice()
}

// Platform returns "snp".
func (SEVGuest) Platform() string { return "snp" }

// Probe opens and closes the device.
func (s SEVGuest) Probe() error {
	d, err := s.open()
	if err != nil {
		return err
	}
	return d.Close()
}

// Evidence returns the SEV-SNP report over reportData.
func (s SEVGuest) Evidence(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := s.open()
	if err != nil {
		return nil, fmt.Errorf("tsm: opening the SEV guest device: %w", err)
	}
	defer d.Close()
	r, err := sevclient.GetRawReportAtVmpl(d, reportData, s.VMPL)
	if err != nil {
		return nil, fmt.Errorf("tsm: SEV-SNP report from the device: %w", err)
	}
	if err := checkReportData("snp", r, reportData); err != nil {
		return nil, err
	}
	return r, nil
}

// TDXGuest produces TDX quotes through Linux's /dev/tdx_guest (the quote
// ioctl of kernels before configfs-tsm).
type TDXGuest struct {
	// Open opens the device; nil opens /dev/tdx_guest.
	Open func() (tdxclient.Device, error)
}

func (t TDXGuest) open() (tdxclient.Device, error) {
	if t.Open != nil {
		return t.Open()
	}
	return tdxclient.OpenDevice()
}

// Platform returns "tdx".
func (TDXGuest) Platform() string { return "tdx" }

// Probe opens and closes the device.
func (t TDXGuest) Probe() error {
	d, err := t.open()
	if err != nil {
		return err
	}
	return d.Close()
}

// Evidence returns the TDX quote over reportData.
func (t TDXGuest) Evidence(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d, err := t.open()
	if err != nil {
		return nil, fmt.Errorf("tsm: opening the TDX guest device: %w", err)
	}
	defer d.Close()
	q, err := tdxclient.GetRawQuote(d, reportData)
	if err != nil {
		return nil, fmt.Errorf("tsm: TDX quote from the device: %w", err)
	}
	if err := checkReportData("tdx", q, reportData); err != nil {
		return nil, err
	}
	return q, nil
}
