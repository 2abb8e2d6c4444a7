// Package evidence is what the tools that check attestation evidence
// themselves share: the choice of the verifier for a platform (Verifier),
// the list of platforms this build can check (Platforms), and the reading
// of evidence files that hold native bytes or hex or base64 text of them
// (Decode); the offline check of evidence (Check) and the text of what
// evidence claims and of the steps of an attestation (WriteClaims,
// WriteSteps, WriteCertificate); simulated evidence (NewSim); and the
// commands that check evidence past their flags: VerifyFile ("truce
// evidence verify") and Explain ("truce attest --explain").
//
// It must never import the attestation service (internal/pas), the host
// or the runtime: it serves clients and offline checks, which verify
// evidence with the same verifier code the attestation service runs but
// without it. It reads no environment variable: callers pass the files.
package evidence

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/attest/verifiers"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	platforms "github.com/truce-project/truce/platform"
)

// ErrNoDeviceKey is returned by Verifier for the simulated platform when no
// device public key file is given: simulated evidence is signed by a
// software device key, which no build trusts on its own.
var ErrNoDeviceKey = errors.New("the simulated platform needs the device public key")

// Verifier returns the verifier of platform's evidence. For the simulated
// platform it is one that trusts the device public key in the file
// simDevicePub (which "truce pas init" writes as device.pub); an empty
// simDevicePub is ErrNoDeviceKey. For every other platform it is the
// verifier verifiers.All builds, or an error wrapping
// attest.ErrUnsupportedPlatform when this build has none.
func Verifier(platform, simDevicePub string) (attest.Verifier, error) {
	if platform != attest.SimPlatform {
		return verifiers.All(verifiers.Options{}).Get(platform)
	}
	if simDevicePub == "" {
		return nil, ErrNoDeviceKey
	}
	pub, err := sim.LoadPublic(simDevicePub)
	if err != nil {
		return nil, fmt.Errorf("the simulated device public key %s: %w", simDevicePub, err)
	}
	return sim.NewVerifier(pub), nil
}

// Platforms lists the platforms whose evidence Verifier can check, sorted.
func Platforms() []string { return verifiers.Names() }

// Decode returns the bytes b spells as hex or base64 text (line breaks and
// spaces ignored, as tools print them), or b itself when it is neither:
// native binary evidence.
func Decode(b []byte) []byte {
	t := strings.Join(strings.Fields(string(b)), "")
	if t == "" {
		return b
	}
	if d, err := hex.DecodeString(t); err == nil {
		return d
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if d, err := enc.DecodeString(t); err == nil {
			return d
		}
	}
	return b
}

// ErrDeviceKey is wrapped by NewSim's error when the simulated device key
// cannot be read.
var ErrDeviceKey = errors.New("cannot read the simulated device key")

// Check verifies ev with v as the attestation service would and, when
// nonce is not nil, that the evidence binds those 64 report-data bytes (an
// error wrapping attest.ErrBinding otherwise). A verifier's refusal is
// returned as is (such as attest.ErrBadEvidence).
func Check(ev []byte, v attest.Verifier, o attest.VerifyOptions, nonce []byte) (*attest.Claims, error) {
	c, err := v.Verify(ev, o)
	if err != nil {
		return nil, err
	}
	if nonce != nil && !bytes.Equal(nonce, c.ReportData[:]) {
		return nil, fmt.Errorf("%w: report data is %x, --nonce wants %x", attest.ErrBinding, c.ReportData, nonce)
	}
	return c, nil
}

// NewSim makes simulated evidence, as the runtime does on the simulated
// platform: a token signed by the device key in the file deviceKey,
// reporting measurement over reportData. It is never hardware-backed.
func NewSim(deviceKey string, measurement []byte, reportData [64]byte) ([]byte, error) {
	dev, err := simprovider.LoadDevice(deviceKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDeviceKey, err)
	}
	return simprovider.NewProvider(dev, measurement).Evidence(context.Background(), reportData)
}

// WriteClaims writes what verified evidence claims, one "name: value" line
// each: platform, whether simulated, measurement, report data, the
// platform's further claims, its TCB components and the freshness at at of
// the vendor collateral used.
func WriteClaims(w io.Writer, c *attest.Claims, at time.Time) {
	fmt.Fprintf(w, "evidence verifies\nplatform: %s\n", c.Platform)
	if c.Simulated {
		fmt.Fprintf(w, "simulated: yes (NOT hardware-backed)\n")
	} else {
		fmt.Fprintf(w, "simulated: no\n")
	}
	fmt.Fprintf(w, "measurement: %s\nreport_data: %s\n", hex.EncodeToString(c.Measurement), hex.EncodeToString(c.ReportData[:]))
	for _, k := range slices.Sorted(maps.Keys(c.Details)) {
		fmt.Fprintf(w, "%s: %s\n", k, c.Details[k])
	}
	if spec, _ := platforms.Lookup(c.Platform); len(c.TCB) > 0 {
		var parts []string
		for _, name := range spec.TCB {
			if v, ok := c.TCB[name]; ok {
				parts = append(parts, fmt.Sprintf("%s %d", name, v))
			}
		}
		fmt.Fprintf(w, "tcb: %s\n", strings.Join(parts, ", "))
	}
	for _, f := range c.Collateral {
		fmt.Fprintf(w, "collateral: %s\n", f.At(at))
	}
}

// WriteSteps writes one ✓ or ✗ line per step of an attestation; a refusal is followed by its
// claim, expected and actual values, rule, collateral and hint.
func WriteSteps(w io.Writer, steps []attest.Step) {
	for _, s := range steps {
		if s.OK() {
			if s.Detail == "" {
				fmt.Fprintf(w, "   ✓ %s\n", s.Name)
			} else {
				fmt.Fprintf(w, "   ✓ %s: %s\n", s.Name, s.Detail)
			}
			continue
		}
		v := s.Verdict.Printable()
		fmt.Fprintf(w, "   ✗ %s\n", s.Name)
		fmt.Fprintf(w, "       claim:      %s\n", v.Claim)
		fmt.Fprintf(w, "       expected:   %s\n", v.Expected)
		fmt.Fprintf(w, "       actual:     %s\n", v.Actual)
		fmt.Fprintf(w, "       rule:       %s\n", v.Rule)
		for _, f := range v.Collateral {
			fmt.Fprintf(w, "       collateral: %s\n", f.At(v.At))
		}
		if v.Hint != "" {
			fmt.Fprintf(w, "       hint:       %s\n", v.Hint)
		}
	}
}

// WriteCertificate writes what the leaf certificate of chain says about
// the enclave, unchecked.
func WriteCertificate(w io.Writer, chain []*x509.Certificate) {
	leaf := chain[0]
	fmt.Fprintf(w, "   subject:      %q\n", leaf.Subject.CommonName)
	fmt.Fprintf(w, "   issuer:       %q\n", leaf.Issuer.CommonName)
	fmt.Fprintf(w, "   serial:       %x\n", leaf.SerialNumber)
	fmt.Fprintf(w, "   valid:        %s to %s\n", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	id, err := attest.IdentityOf(leaf)
	if err != nil {
		fmt.Fprintf(w, "   identity:     none readable (%v)\n", err)
		return
	}
	sim := ""
	if id.Simulated {
		sim = " (SIMULATED: no hardware stands behind it)"
	}
	fmt.Fprintf(w, "   platform:     %q%s\n", id.Platform, sim)
	fmt.Fprintf(w, "   measurement:  %s\n", hex.EncodeToString(id.Measurement))
	fmt.Fprintf(w, "   policy hash:  %s\n", hex.EncodeToString(id.PolicyHash[:]))
	if len(id.TCB) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(id.TCB)) {
			parts = append(parts, fmt.Sprintf("%q %d", k, id.TCB[k]))
		}
		fmt.Fprintf(w, "   tcb:          %s\n", strings.Join(parts, ", "))
	}
}
