package main

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/truce-project/truce/bundle"
	"github.com/truce-project/truce/internal/textreport"
)

// auditVerifyCommands are the commands of audit_verify.go.
func auditVerifyCommands() (cs []*command) {
	var devicePub, policyFile, follows string
	cs = append(cs, &command{
		Name:    "audit verify",
		Args:    "[flags] BUNDLE",
		Summary: "check an audit bundle offline and print what was computed, by whom, on what",
		Help:    helpText("audit verify"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&devicePub, "device-pub", "", "simulated device public key `file`, for a bundle from sim (default $TRUCE_SIM_DEVICE_PUB)")
			fs.StringVar(&policyFile, "policy", "", "require the bundle's chain to hold this policy `file`, byte for byte")
			fs.StringVar(&follows, "follows", "", "require the bundle to continue the log of this earlier bundle `file` of the same enclave")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("give one bundle file")
			}
			data, err := readInput(e, args[0], bundle.MaxSize, "bundle", "give the file truce export wrote")
			if err != nil {
				return err
			}
			b, err := bundle.Parse(data)
			if err != nil {
				return bundleError(args[0], err)
			}
			v, err := bundleVerifier(e, b.Attestation.Platform, devicePub)
			if err != nil {
				return err
			}
			rep, err := bundle.Verify(b, bundle.Options{Verifier: v})
			if err != nil {
				return bundleError(args[0], err)
			}
			if policyFile != "" {
				want, err := os.ReadFile(policyFile)
				if err != nil {
					return withHint(fmt.Errorf("reading the policy: %w", err), "give the policy file with --policy")
				}
				sum := sha256.Sum256(want)
				if !slices.ContainsFunc(rep.Chain, func(l bundle.Link) bool { return l.Policy.Hash() == sum }) {
					return withHint(fmt.Errorf("the bundle's chain of policies %s does not hold %s (sha256 %x)", chainHashes(rep), policyFile, sum), "this bundle checks, but for another policy than yours")
				}
			}
			if follows != "" {
				edata, err := readInput(e, follows, bundle.MaxSize, "bundle", "give the file truce export wrote")
				if err != nil {
					return err
				}
				eb, err := bundle.Parse(edata)
				if err != nil {
					return bundleError(follows, err)
				}
				erep, err := bundle.Verify(eb, bundle.Options{Verifier: v})
				if err != nil {
					return bundleError(follows, err)
				}
				if err := bundle.Follows(erep, rep); err != nil {
					return withHint(fmt.Errorf("%s does not continue %s: %w", args[0], follows, err), "both bundles check on their own; the log between them is not shown by them")
				}
				defer fmt.Fprintf(e.Stdout, "continues %s: together they show the log from entry %d to %d\n", follows, erep.Checkpoint.From, rep.Checkpoint.Size-1)
			}
			textreport.Bundle(e.Stdout, rep)
			return nil
		},
	})
	return cs
}

// bundleError says what a refused bundle means for the one checking it.
func bundleError(name string, err error) error {
	err = fmt.Errorf("%s: %w", name, err)
	switch {
	case errors.Is(err, bundle.ErrFormat):
		return withHint(err, "give the file truce export wrote, unchanged: a bundle with any byte changed is refused")
	case errors.Is(err, bundle.ErrEnclave):
		return withHint(err, "the enclave behind this bundle is not one its policy trusts, or the evidence does not check (on sim: is --device-pub the attestation service's device.pub?): do not trust it")
	case errors.Is(err, bundle.ErrPolicy):
		return withHint(err, "the bundle's chain of policies does not check: a policy or an approval was altered, or a succession was not approved: do not trust it")
	}
	return withHint(err, "the bundle was altered or is incomplete: do not trust it")
}

// chainHashes lists the hashes of a verified chain, first to last.
func chainHashes(rep *bundle.Report) string {
	hs := make([]string, len(rep.Chain))
	for i, l := range rep.Chain {
		hs[i] = l.Policy.HashHex()
	}
	return strings.Join(hs, " → ")
}
