// Package evidence is what the tools that check attestation evidence
// themselves share: the choice of the verifier for a platform (Verifier),
// the list of platforms this build can check (Platforms), and the reading
// of evidence files that hold native bytes or hex or base64 text of them
// (Decode).
//
// It must never import the attestation service (internal/pas), the host
// or the runtime: it serves clients and offline checks, which verify
// evidence with the same verifier code the attestation service runs but
// without it. It reads no environment variable: callers pass the files.
package evidence

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
)

// ErrNoDeviceKey is returned by Verifier for the simulated platform when no
// device public key file is given: simulated evidence is signed by a
// software device key, which no build trusts on its own.
var ErrNoDeviceKey = errors.New("the simulated platform needs the device public key")

// Verifier returns the verifier of platform's evidence. For the simulated
// platform it is one that trusts the device public key in the file
// simDevicePub (which "truce pas init" writes as device.pub); an empty
// simDevicePub is ErrNoDeviceKey. For every other platform it is the
// registered verifier (attest.Lookup), or an error wrapping
// attest.ErrUnsupportedPlatform when this build has none.
func Verifier(platform, simDevicePub string) (attest.Verifier, error) {
	if platform != attest.SimPlatform {
		return attest.Lookup(platform)
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

// Platforms lists the platforms whose evidence Verifier can check: the
// registered ones and sim, sorted with sim first when it is not
// registered.
func Platforms() []string {
	ps := attest.Platforms()
	if !slices.Contains(ps, attest.SimPlatform) {
		ps = append([]string{attest.SimPlatform}, ps...)
	}
	return ps
}

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
