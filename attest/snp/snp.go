// Package snp verifies AMD SEV-SNP attestation reports: the 1184-byte report
// a confidential VM's AMD secure processor signs with the chip's VCEK (or a
// cloud provider's VLEK), chained to AMD's ASK and ARK for the processor
// family, which are built in (from go-sev-guest) so that no network is
// needed.
//
// Verify checks, in order: the report's size and format, the endorsement
// certificate's chain to the built-in ARK of its product (at
// VerifyOptions.Now), the report's ECDSA P-384 signature, the TCB the
// certificate was issued for against the report's TCB fields, and the guest
// policy (debug refused unless AllowDebug, migration agents refused). It
// returns the launch MEASUREMENT as the measurement, REPORT_DATA as the
// report data and HOST_DATA, ID_KEY_DIGEST and AUTHOR_KEY_DIGEST as the
// extra measurements a policy may pin.
//
// It must never return claims for a report whose signature, certificate
// chain or TCB does not verify, never trust a certificate chain the evidence
// brings along in place of the built-in roots, and never panic on any input.
package snp

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/validate"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/platform"
)

// Platform is the name of the SEV-SNP platform in policies and evidence.
const Platform = platform.SNP

// ReportSize is the size in bytes of an SEV-SNP attestation report.
const ReportSize = abi.ReportSize

// Errors callers branch on; each is returned wrapped together with
// attest.ErrBadEvidence.
var (
	// ErrNoEndorsementKey: the VCEK or VLEK certificate that signed the
	// report was not supplied.
	ErrNoEndorsementKey = errors.New("no VCEK or VLEK certificate given")
	// ErrDebug: the guest policy allows the host to debug (read) the VM.
	ErrDebug = errors.New("guest policy allows debugging")
	// ErrUnknownProduct: the product named is not one with built-in roots.
	ErrUnknownProduct = errors.New("unknown SEV-SNP product")
)

// Verifier checks SEV-SNP attestation reports. The zero value is ready to
// use, trusts the built-in AMD roots, and never uses the network: the VCEK
// must come in VerifyOptions.Key.
type Verifier struct {
	// Fetch, if set, fetches the VCEK from AMD's Key Distribution Service
	// (kdsintf.amd.com) when VerifyOptions.Key is empty, by the report's
	// chip ID and reported TCB, and keeps it (VCEKs do not change for a
	// chip and TCB). Where the attestation service has network, set it to
	// KDSGetter(). A fetched VCEK is checked exactly as a given one: it
	// must chain to the built-in roots.
	Fetch trust.HTTPSGetter

	cache sync.Map // KDS URL -> DER
}

// KDSGetter returns a getter of AMD KDS URLs over HTTPS with a time limit.
func KDSGetter() trust.HTTPSGetter { return kdsGetter{client: &http.Client{Timeout: 20 * time.Second}} }

type kdsGetter struct{ client *http.Client }

func (g kdsGetter) Get(url string) ([]byte, error) {
	resp, err := g.client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<16))
}

// fetchVCEK returns the VCEK for report from the KDS, trying the product
// named (or, for reports that do not say, each product with built-in
// roots).
func (v *Verifier) fetchVCEK(report *spb.Report, product string) ([]byte, error) {
	var lines []string
	switch {
	case product != "":
		l, err := ProductLine(product)
		if err != nil {
			return nil, err
		}
		lines = []string{l}
	case report.GetCpuid1EaxFms() != 0:
		lines = []string{kds.ProductLineFromFms(report.GetCpuid1EaxFms())}
	default:
		for _, p := range Products() {
			l, _ := ProductLine(p)
			lines = append(lines, l)
		}
	}
	urls := make([]string, len(lines))
	for i, l := range lines {
		urls[i] = kds.VCEKCertURL(l, report.GetChipId(), kds.TCBVersion(report.GetReportedTcb()))
		if der, ok := v.cache.Load(urls[i]); ok {
			return der.([]byte), nil
		}
	}
	var errs []string
	for _, url := range urls {
		der, err := v.Fetch.Get(url)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if _, err := x509.ParseCertificate(der); err != nil {
			errs = append(errs, fmt.Sprintf("%s: not a certificate: %v", url, err))
			continue
		}
		v.cache.Store(url, der)
		return der, nil
	}
	return nil, fmt.Errorf("%w: snp: %w, and fetching it from AMD's KDS failed (%s): give the VCEK (--vcek)",
		attest.ErrBadEvidence, ErrNoEndorsementKey, strings.Join(errs, "; "))
}

// NewVerifier returns a Verifier that trusts the built-in AMD roots.
func NewVerifier() *Verifier { return &Verifier{} }

// Platform returns "snp".
func (*Verifier) Platform() string { return Platform }

// Products lists the processor families whose AMD roots are built in, in
// lower case as VerifyOptions.Product takes them.
func Products() []string {
	out := make([]string, 0, len(trust.DefaultRootCerts))
	for p := range trust.DefaultRootCerts {
		out = append(out, strings.ToLower(p))
	}
	sort.Strings(out)
	return out
}

func bad(format string, args ...any) error {
	return fmt.Errorf("%w: snp: %s", attest.ErrBadEvidence, fmt.Sprintf(format, args...))
}

// Verify checks evidence, the raw report, against opts.Key (the VCEK or
// VLEK certificate, DER or PEM; or, if empty and Fetch is set, the VCEK
// from AMD's KDS) and the built-in roots of opts.Product (or of the product
// the certificate names), at opts.Time().
func (v *Verifier) Verify(evidence []byte, opts attest.VerifyOptions) (*attest.Claims, error) {
	if len(evidence) != ReportSize {
		return nil, bad("report is %d bytes, want %d (give the raw report, not a certificate table or extended report)", len(evidence), ReportSize)
	}
	if err := abi.ValidateReportFormat(evidence); err != nil {
		return nil, bad("malformed report: %v", err)
	}
	report, err := abi.ReportToProto(evidence)
	if err != nil {
		return nil, bad("malformed report: %v", err)
	}
	info, err := abi.ParseSignerInfo(report.GetSignerInfo())
	if err != nil {
		return nil, bad("malformed signer info: %v", err)
	}
	key := opts.Key
	if len(key) == 0 && v.Fetch != nil && info.SigningKey == abi.VcekReportSigner {
		if key, err = v.fetchVCEK(report, opts.Product); err != nil {
			return nil, err
		}
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: snp: %w: the report is signed by its %v; give that certificate (from AMD's KDS, or the host's extended report)",
			attest.ErrBadEvidence, ErrNoEndorsementKey, info.SigningKey)
	}
	ekDER, err := certDER(key)
	if err != nil {
		return nil, bad("endorsement key: %v", err)
	}
	chain := &spb.CertificateChain{Extras: map[string][]byte{}}
	switch info.SigningKey {
	case abi.VcekReportSigner:
		chain.VcekCert = ekDER
	case abi.VlekReportSigner:
		chain.VlekCert = ekDER
	default:
		return nil, bad("report is signed by %v, not a VCEK or VLEK", info.SigningKey)
	}
	ek, err := x509.ParseCertificate(ekDER)
	if err != nil {
		return nil, bad("endorsement key certificate: %v", err)
	}
	exts, err := kds.CertificateExtensions(ek, info.SigningKey)
	if err != nil {
		return nil, bad("%v certificate lacks AMD's extensions: %v", info.SigningKey, err)
	}
	line, err := productLine(report, exts, info.SigningKey)
	if err != nil {
		return nil, err
	}
	if opts.Product != "" {
		want, err := ProductLine(opts.Product)
		if err != nil {
			return nil, err
		}
		if want != line {
			return nil, bad("the report and its %v are of product %s, not %s", info.SigningKey, line, want)
		}
	}
	root, err := roots(line, info.SigningKey)
	if err != nil {
		return nil, err
	}
	att := &spb.Attestation{Report: report, CertificateChain: chain}
	vopts := &verify.Options{
		DisableCertFetching: true,
		Now:                 opts.Time(),
		TrustedRoots:        map[string][]*trust.AMDRootCerts{line: {root}},
	}
	if err := verify.SnpAttestation(att, vopts); err != nil {
		return nil, bad("signature or certificate chain (built-in %s roots, at %s): %v", line, vopts.Now.UTC().Format("2006-01-02T15:04:05Z"), err)
	}
	if err := checkReport(att, opts.AllowDebug); err != nil {
		return nil, err
	}
	return claims(report, info, exts, line), nil
}

// checkReport checks a report whose signature verified against what its
// certificate and the guest policy must say.
func checkReport(att *spb.Attestation, allowDebug bool) error {
	report := att.GetReport()
	pol, err := abi.ParseSnpPolicy(report.GetPolicy())
	if err != nil {
		return bad("malformed guest policy: %v", err)
	}
	if pol.Debug && !allowDebug {
		return fmt.Errorf("%w: snp: %w (policy %#x): the host can read this VM's memory; launch it without debug, or accept with --allow-debug for testing only",
			attest.ErrBadEvidence, ErrDebug, report.GetPolicy())
	}
	if err := validate.SnpAttestation(att, &validate.Options{
		GuestPolicy: abi.SnpPolicy{
			ABIMajor: 0, ABIMinor: 0,
			SMT:        true,
			Debug:      allowDebug,
			CXLAllowed: true,
			// A migration agent can export the guest's memory.
			MigrateMA: false,
		},
		PermitProvisionalFirmware: true,
	}); err != nil {
		return bad("report fields: %v", err)
	}
	return nil
}

// vlekRoots are AMD's ARK and ASVK per product, which certify VLEKs.
var vlekRoots = map[string][]byte{
	"Milan": trust.AskArkMilanVlekBytes,
	"Genoa": trust.AskArkGenoaVlekBytes,
	"Turin": trust.AskArkTurinVlekBytes,
}

// roots returns the built-in AMD roots of a product line for the key kind
// that signed the report: ARK and ASK for a VCEK, ARK and ASVK for a VLEK.
func roots(line string, key abi.ReportSigner) (*trust.AMDRootCerts, error) {
	if key == abi.VlekReportSigner {
		b, ok := vlekRoots[line]
		if !ok {
			return nil, bad("no built-in AMD VLEK roots for product %q", line)
		}
		r := trust.AMDRootCertsProduct(line)
		// AMD's Turin file ends in an extra CRLF, which the parser refuses.
		if err := r.FromKDSCertBytes(bytes.TrimSpace(b)); err != nil {
			return nil, bad("built-in AMD VLEK roots for %s: %v", line, err)
		}
		return r, nil
	}
	r, err := trust.GetDefaultRootCerts(line)
	if err != nil {
		return nil, bad("no built-in AMD roots for product %q", line)
	}
	return r, nil
}

// ProductLine returns the product line, as AMD spells it ("Milan"), for a
// name given case-insensitively ("milan"), or an error wrapping
// ErrUnknownProduct.
func ProductLine(name string) (string, error) {
	for p := range trust.DefaultRootCerts {
		if strings.EqualFold(p, name) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: snp: %w %q: give one of %s", attest.ErrBadEvidence, ErrUnknownProduct, name, strings.Join(Products(), ", "))
}

// productLine is the product the report comes from: from the report itself
// (version 3 and later carry the CPUID family and model), otherwise from the
// endorsement certificate's product name. Either way the built-in roots of
// that product must then verify the certificate.
func productLine(report *spb.Report, exts *kds.Extensions, key abi.ReportSigner) (string, error) {
	if fms := report.GetCpuid1EaxFms(); fms != 0 {
		if l := kds.ProductLineFromFms(fms); l != "" && l != "Unknown" {
			return l, nil
		}
		return "", bad("report names an unknown processor (CPUID %#x)", fms)
	}
	p, err := kds.ParseProductName(exts.ProductName, key)
	if err != nil {
		return "", bad("%v certificate names no known product: %v", key, err)
	}
	l := kds.ProductLine(p)
	if _, ok := trust.DefaultRootCerts[l]; !ok {
		return "", bad("%v certificate names product %q, which has no built-in roots", key, exts.ProductName)
	}
	return l, nil
}

// certDER returns the DER of a certificate given as DER or PEM.
func certDER(b []byte) ([]byte, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block is %q, want CERTIFICATE", blk.Type)
		}
		return blk.Bytes, nil
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return b, nil
}

func claims(r *spb.Report, info abi.SignerInfo, exts *kds.Extensions, line string) *attest.Claims {
	c := &attest.Claims{
		Platform:    Platform,
		Measurement: bytes.Clone(r.GetMeasurement()),
		Extra: map[string][]byte{
			platform.SNPHostData:        bytes.Clone(r.GetHostData()),
			platform.SNPIDKeyDigest:     bytes.Clone(r.GetIdKeyDigest()),
			platform.SNPAuthorKeyDigest: bytes.Clone(r.GetAuthorKeyDigest()),
		},
	}
	copy(c.ReportData[:], r.GetReportData())
	pol, _ := abi.ParseSnpPolicy(r.GetPolicy())
	tcb := func(v uint64) string {
		p := kds.DecomposeTCBVersion(kds.TCBVersion(v))
		return fmt.Sprintf("%#016x (bootloader %d, tee %d, snp %d, microcode %d)", v, p.BlSpl, p.TeeSpl, p.SnpSpl, p.UcodeSpl)
	}
	c.Details = map[string]string{
		"version":           fmt.Sprint(r.GetVersion()),
		"product":           strings.ToLower(line),
		"signing_key":       info.SigningKey.String(),
		"guest_svn":         fmt.Sprint(r.GetGuestSvn()),
		"policy":            fmt.Sprintf("%#x (abi %d.%d, smt %t, debug %t, migrate_ma %t, single_socket %t)", r.GetPolicy(), pol.ABIMajor, pol.ABIMinor, pol.SMT, pol.Debug, pol.MigrateMA, pol.SingleSocket),
		"debug":             fmt.Sprint(pol.Debug),
		"vmpl":              fmt.Sprint(r.GetVmpl()),
		"family_id":         hex.EncodeToString(r.GetFamilyId()),
		"image_id":          hex.EncodeToString(r.GetImageId()),
		"host_data":         hex.EncodeToString(r.GetHostData()),
		"id_key_digest":     hex.EncodeToString(r.GetIdKeyDigest()),
		"author_key_digest": hex.EncodeToString(r.GetAuthorKeyDigest()),
		"report_id":         hex.EncodeToString(r.GetReportId()),
		"chip_id":           hex.EncodeToString(r.GetChipId()),
		"platform_info":     fmt.Sprintf("%#x", r.GetPlatformInfo()),
		"current_tcb":       tcb(r.GetCurrentTcb()),
		"reported_tcb":      tcb(r.GetReportedTcb()),
		"committed_tcb":     tcb(r.GetCommittedTcb()),
		"launch_tcb":        tcb(r.GetLaunchTcb()),
		"cert_tcb":          tcb(uint64(exts.TCBVersion)),
		"firmware":          fmt.Sprintf("%d.%d build %d", r.GetCurrentMajor(), r.GetCurrentMinor(), r.GetCurrentBuild()),
	}
	// The policy's minimum TCB is checked against REPORTED_TCB: the TCB
	// the VCEK that signed the report is derived from.
	rep := kds.DecomposeTCBVersion(kds.TCBVersion(r.GetReportedTcb()))
	c.TCB = map[string]int{platform.SNPBootloader: int(rep.BlSpl), platform.SNPTEE: int(rep.TeeSpl), platform.SNPSNP: int(rep.SnpSpl), platform.SNPMicrocode: int(rep.UcodeSpl)}
	return c
}
