package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/truce-project/truce/bundle"
)

func init() {
	var devicePub, policyFile, follows string
	register(&command{
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
			data, err := readBundle(e, args[0])
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
				edata, err := readBundle(e, follows)
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
			printBundleReport(e.Stdout, rep)
			return nil
		},
	})
}

func readBundle(e *env, name string) ([]byte, error) {
	var rd io.Reader = e.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, withHint(fmt.Errorf("reading the bundle: %w", err), "give the file truce export wrote")
		}
		defer f.Close()
		rd = f
	}
	data, err := io.ReadAll(io.LimitReader(rd, bundle.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle: %w", err)
	}
	return data, nil
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

func printBundleReport(w io.Writer, rep *bundle.Report) {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	pol, id, cp := rep.Policy, rep.Enclave, rep.Checkpoint
	fmt.Fprintf(w, "audit bundle verified: digest %s\n", rep.Digest)
	fmt.Fprintf(w, "  exported by:  %s, at %s by its clock (signed with its key in the last policy)\n", rep.Exporter, ts(rep.Exported))
	fmt.Fprintf(w, "  policy:       %q sha256 %s (chain of %d)\n", pol.Name, pol.HashHex(), len(rep.Chain))
	for i, l := range rep.Chain {
		how := "the first policy, which the enclave's certificate and evidence bind"
		if i > 0 {
			how = fmt.Sprintf("succeeded #%d at audit entry %d, approved by %s", i-1, l.Seq, strings.Join(l.ApprovedBy, ", "))
		}
		fmt.Fprintf(w, "    #%d %q sha256 %s: %s\n", i, l.Policy.Name, l.Policy.HashHex(), how)
	}
	sim := ""
	if id.Simulated {
		sim = " (SIMULATED: no hardware stands behind it)"
	}
	fmt.Fprintf(w, "  enclave:      %s measurement %s%s, key sha256 %s\n", id.Platform, hex.EncodeToString(id.Measurement), sim, rep.KeyHash)
	fmt.Fprintf(w, "  certificate:  issued by %q, the CA the first policy pins; valid %s to %s\n", rep.Leaf.Issuer.CommonName, ts(rep.Leaf.NotBefore), ts(rep.Leaf.NotAfter))
	if rep.Evidence != nil {
		fmt.Fprintf(w, "  evidence:     %s evidence verified: measurement %s, binds the enclave key, the first policy and the nonce\n", rep.Evidence.Platform, hex.EncodeToString(rep.Evidence.Measurement))
	}
	fmt.Fprintf(w, "  audit log:    %d entries, hash chain checks, signed by the enclave at %s (head %s)\n", len(rep.Entries), ts(cp.Time), cp.Head)
	if cp.From > 0 {
		fmt.Fprintf(w, "                from entry %d: the %d before were folded away, the first kept follows %s\n", cp.From, cp.From, cp.Prev)
	}
	if cp.Total > cp.Size {
		fmt.Fprintf(w, "                to entry %d of %d: the enclave logged more after\n", cp.Size-1, cp.Total)
	}
	var held, withheld int
	for _, r := range rep.Runs {
		if r.Receipt != nil {
			held++
		} else {
			withheld++
		}
	}
	fmt.Fprintf(w, "  receipts:     %d verified, signed by the enclave key; %d withheld from %s\n", held, withheld, rep.Exporter)
	fmt.Fprintf(w, "runs (%d):\n", len(rep.Runs))
	for _, r := range rep.Runs {
		e := r.Entry
		what := e.Path
		if e.Action == "pipeline" {
			what = "pipeline " + e.Path
		}
		fmt.Fprintf(w, "  #%d %s %s ran %s (sha256 %s) under policy #%d: %s\n", e.Seq, ts(e.Time), e.Principal, what, e.Hashes[0], r.Policy, e.Outcome)
		rc := r.Receipt
		if rc == nil {
			fmt.Fprintf(w, "      receipt %s withheld from %s: inputs and outputs not shown\n", r.Digest, rep.Exporter)
			continue
		}
		fmt.Fprintf(w, "      receipt %s: %s, exit code %d, ran %s to %s\n", r.Digest, rc.Outcome, rc.ExitCode, ts(rc.Started), ts(rc.Finished))
		for _, f := range rc.Inputs {
			fmt.Fprintf(w, "      input   %s commitment %s\n", f.Path, f.Commitment)
		}
		for _, f := range rc.Outputs {
			fmt.Fprintf(w, "      output  %s commitment %s\n", f.Path, f.Commitment)
		}
	}
}
