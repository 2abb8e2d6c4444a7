package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/evidence"
)

// evidenceCommands are the commands of evidence.go.
func evidenceCommands() (cs []*command) {
	cs = append(cs, &command{
		Name:    "evidence verify",
		Args:    "--platform P [--device-pub FILE] [--collateral FILE] [--key FILE] [--product NAME] [--nonce HEX] [--at TIME] FILE",
		Summary: "check attestation evidence offline and print its claims",
		Help:    helpText("evidence verify"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("platform", "", "platform of the evidence: "+strings.Join(evidence.Platforms(), ", "))
			fs.String("device-pub", "", "simulated device public key `file` (default $TRUCE_SIM_DEVICE_PUB)")
			fs.String("collateral", "", "vendor verification collateral JSON `file` (sgx, tdx)")
			fs.String("key", "", "endorsement key or certificate `file`, DER or PEM (snp VCEK/VLEK, psa key)")
			fs.String("vcek", "", "same as --key, for snp")
			fs.String("product", "", "processor family `name` (snp: milan, genoa, …)")
			fs.Bool("allow-debug", false, "accept evidence from a debug enclave")
			fs.String("nonce", "", "expected report data, 128 `hex` digits")
			fs.String("at", "", "verify as of this RFC 3339 `time` (default now)")
			fs.String("policy", "", "also apply this policy `file`'s rules on runtimes (revoked, measurement, minimum TCB)")
		},
		Run: runEvidenceVerify,
	})
	cs = append(cs, &command{
		Name:    "evidence new",
		Args:    "--platform sim --device-key FILE --measurement HEX --report-data HEX -o FILE",
		Summary: "make simulated evidence, for debugging",
		Help:    helpText("evidence new"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("platform", "sim", "platform: only sim")
			fs.String("device-key", "", "simulated device key `file` (truce pas init writes one)")
			fs.String("measurement", "", "runtime measurement, `hex` (for sim: the SHA-256 of the runtime executable)")
			fs.String("report-data", "", "64 bytes of report data, 128 `hex` digits")
			fs.String("o", "", "output `file` for the token")
		},
		Run: runEvidenceNew,
	})
	return cs
}

func flagString(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }

func runEvidenceVerify(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) != 1 {
		return usagef("give exactly one evidence FILE")
	}
	platform := flagString(fs, "platform")
	if platform == "" {
		return withHint(usagef("--platform is required"), "give --platform sim")
	}
	opts := attest.VerifyOptions{}
	if at := flagString(fs, "at"); at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return withHint(usagef("--at %q is not an RFC 3339 time", at), "such as 2026-11-24T12:00:00Z")
		}
		opts.Now = t
	}
	opts.Product = flagString(fs, "product")
	opts.AllowDebug = flagString(fs, "allow-debug") == "true"
	if f := flagString(fs, "collateral"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return withHint(fmt.Errorf("reading collateral: %w", err), "give the collateral JSON file")
		}
		opts.Collateral = b
	}
	key := flagString(fs, "key")
	if v := flagString(fs, "vcek"); v != "" {
		if key != "" && key != v {
			return usagef("give --key or --vcek, not both")
		}
		key = v
	}
	if key != "" {
		b, err := os.ReadFile(key)
		if err != nil {
			return withHint(fmt.Errorf("reading key: %w", err), "give the endorsement key or certificate file")
		}
		opts.Key = b
	}
	var want []byte
	if n := flagString(fs, "nonce"); n != "" {
		b, err := hex.DecodeString(n)
		if err != nil || len(b) != 64 {
			return withHint(usagef("--nonce must be 64 bytes in hex (128 digits)"), "give the report data the evidence should be bound to")
		}
		want = b
	}
	v, err := verifier(e, platform, flagString(fs, "device-pub"), usagef("platform sim needs the device public key"),
		"this build verifies only: "+strings.Join(evidence.Platforms(), ", "))
	if err != nil {
		return err
	}
	return evidence.VerifyFile(e.Stdout, args[0], v, opts, want, flagString(fs, "policy"))
}

func runEvidenceNew(e *env, fs *flag.FlagSet, args []string) error {
	if err := noArgs(args); err != nil {
		return err
	}
	if p := flagString(fs, "platform"); p != attest.SimPlatform {
		return withHint(usagef("cannot make evidence of platform %q", p), "only the simulated platform (sim) has a key anyone may hold")
	}
	keyFile, out := flagString(fs, "device-key"), flagString(fs, "o")
	if keyFile == "" || out == "" {
		return usagef("--device-key and -o are required")
	}
	m, err := hex.DecodeString(flagString(fs, "measurement"))
	if err != nil || len(m) == 0 {
		return withHint(usagef("--measurement must be hex"), "the sim measurement is the SHA-256 of the runtime executable, 64 hex digits")
	}
	rdb, err := hex.DecodeString(flagString(fs, "report-data"))
	if err != nil || len(rdb) != 64 {
		return usagef("--report-data must be 64 bytes in hex (128 digits)")
	}
	ev, err := evidence.NewSim(keyFile, m, [64]byte(rdb))
	if errors.Is(err, evidence.ErrDeviceKey) {
		return withHint(err, "give the device.key that truce pas init wrote")
	} else if err != nil {
		return err
	}
	if err := atomicfile.Write(out, ev, 0o644); err != nil {
		return fmt.Errorf("writing evidence: %w", err)
	}
	fmt.Fprintf(e.Stdout, "wrote %d bytes of SIMULATED evidence to %s\n", len(ev), out)
	return nil
}
