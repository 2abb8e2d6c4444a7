package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/bundle"
	"github.com/truce-project/truce/internal/atomicfile"
)

// exportCommands are the commands of export.go.
func exportCommands() (cs []*command) {
	var cf clientFlags
	var out, devicePub string
	cs = append(cs, &command{
		Name:    "export",
		Args:    "-o BUNDLE [flags]",
		Summary: "write the enclave's audit bundle: policy, attestation, audit log, receipts",
		Help:    helpText("export"),
		Flags: func(fs *flag.FlagSet) {
			cf.declare(fs)
			fs.StringVar(&out, "o", "", "write the bundle to `file` (required; - for stdout)")
			fs.StringVar(&devicePub, "device-pub", "", "simulated device public key `file`, to check the evidence on sim before writing (default $TRUCE_SIM_DEVICE_PUB)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if out == "" {
				return withHint(usagef("-o is required"), "name the bundle file to write, such as -o audit-bundle.json")
			}
			s, _, err := cf.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			id, err := cf.conf(e).Identity()
			if err != nil {
				return err
			}
			b, err := bundle.Export(e.Ctx, s, id, time.Now())
			if err != nil {
				return clientError(err)
			}
			opts := bundle.Options{SkipEvidence: true}
			if v, err := bundleVerifier(e, b.Attestation.Platform, devicePub); err == nil {
				opts = bundle.Options{Verifier: v}
			} else if devicePub != "" {
				return err
			}
			rep, err := bundle.Verify(b, opts)
			if err != nil {
				return bundleError("the exported bundle (nothing was written)", err)
			}
			data, err := bundle.Marshal(b)
			if err != nil {
				return err
			}
			if out == "-" {
				_, err := e.Stdout.Write(data)
				return err
			}
			if err := atomicfile.Write(out, data, 0o644); err != nil {
				return withHint(fmt.Errorf("writing the bundle: %w", err), "choose a writable -o file")
			}
			evidence := "checked"
			if rep.Evidence == nil {
				evidence = "not checked here (give --device-pub on sim)"
			}
			fmt.Fprintf(e.Stderr, "audit bundle written to %s: policy %s (chain of %d), %d audit entries, %d receipts, %d withheld from %s, evidence %s; digest %s\n",
				out, rep.Policy.HashHex(), len(rep.Chain), len(b.Audit.Entries), len(b.Receipts), len(b.Withheld), b.Exporter, evidence, b.Digest)
			fmt.Fprintf(e.Stderr, "check it with: truce audit verify %s\n", out)
			return nil
		},
	})
	return cs
}

// bundleVerifier is the verifier of a bundle's evidence, for "truce
// export" and "truce audit verify".
func bundleVerifier(e *env, platform, devicePub string) (attest.Verifier, error) {
	return verifier(e, platform, devicePub, usagef("the bundle's enclave is simulated: checking its evidence needs the simulated device's public key"),
		"this truce cannot check "+platform+" evidence")
}
