// Package verifiers is the one place that knows every platform's
// verifier: All returns them, by platform name, built with what they need
// that is not built in (the simulated device's public key, a fetcher of
// vendor collateral). The attestation service, the CLI's checks of
// evidence and bundles, and anyone who verifies evidence of several
// platforms take their verifiers from it, explicitly: there is no
// process-wide registry of verifiers and no blank import that fills one.
//
// It must never import a provider (internal/provider/...) or anything
// that talks to an attestation device, and never return a sim verifier
// unless given the simulated device's key.
package verifiers

import (
	"crypto/ecdsa"
	"fmt"
	"slices"
	"sort"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/cca"
	"github.com/truce-project/truce/attest/dcap"
	"github.com/truce-project/truce/attest/nitro"
	"github.com/truce-project/truce/attest/psa"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/attest/snp"
	"github.com/truce-project/truce/attest/tdx"
)

// Options say what the verifiers need that is not built in. The zero
// value gives every hardware platform's verifier, with built-in roots,
// fetching nothing, and no sim verifier.
type Options struct {
	// SimKey, if set, is the simulated device's public key: the set then
	// holds the sim verifier, which checks tokens signed with it.
	SimKey *ecdsa.PublicKey
	// Fetch, if set, is how the verifiers that fetch vendor collateral
	// get it: snp its VCEK from AMD's KDS, sgx and tdx Intel's
	// collateral from its PCS (such as the attestation service's
	// collateral cache). Nil fetches nothing.
	Fetch dcap.Getter
}

// Set is a set of verifiers by platform name.
type Set map[string]attest.Verifier

// All returns the verifier of every platform, built with o.
func All(o Options) Set {
	s := Set{
		cca.Platform:   cca.NewVerifier(),
		nitro.Platform: nitro.Verifier{},
		psa.Platform:   psa.Verifier{},
		sgx.Platform:   sgx.Verifier{},
		snp.Platform:   snp.NewVerifier(),
		tdx.Platform:   tdx.NewVerifier(),
	}
	if o.Fetch != nil {
		s[sgx.Platform] = sgx.Verifier{Fetch: o.Fetch}
		s[snp.Platform] = &snp.Verifier{Fetch: o.Fetch}
		s[tdx.Platform] = &tdx.Verifier{Fetch: o.Fetch}
	}
	if o.SimKey != nil {
		s[attest.SimPlatform] = sim.NewVerifier(o.SimKey)
	}
	return s
}

// Get returns the verifier for platform, or an error wrapping
// attest.ErrUnsupportedPlatform that lists the platforms s has.
func (s Set) Get(platform string) (attest.Verifier, error) {
	v, ok := s[platform]
	if !ok {
		return nil, fmt.Errorf("%w: %q (known: %v)", attest.ErrUnsupportedPlatform, platform, s.Platforms())
	}
	return v, nil
}

// Platforms lists the platforms s has a verifier for, sorted.
func (s Set) Platforms() []string {
	out := make([]string, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Names lists the platforms All returns a verifier for, sim included
// (which needs Options.SimKey), sorted.
func Names() []string {
	ps := All(Options{}).Platforms()
	if !slices.Contains(ps, attest.SimPlatform) {
		ps = append(ps, attest.SimPlatform)
		sort.Strings(ps)
	}
	return ps
}
