package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/cli"
	"github.com/truce-project/truce/internal/policyspec"
	"github.com/truce-project/truce/policy"
)

// policyImportCommands are the commands of policy_import.go.
func policyImportCommands() (cs []*command) {
	var runtimes stringList
	cs = append(cs, &command{
		Name:    "policy import-veracruz",
		Args:    "IN -o OUT [flags]",
		Summary: "convert a Veracruz policy file into a Truce policy",
		Help:    helpText("policy import-veracruz"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("o", "", "Truce policy `file` to write (- for standard output)")
			fs.String("name", "", "`name` of the computation (default: IN without its extension)")
			fs.String("expires", "", "expiry as an RFC 3339 `time`, instead of enclave_cert_expiry")
			fs.String("host", "", "`host:port` where clients dial, instead of veracruz_server_url")
			fs.String("pas-url", "", "`URL` of the attestation service, instead of proxy_attestation_server_url")
			fs.String("pas-ca", "", "`file` with the attestation service's CA certificate, instead of proxy_service_cert")
			fs.Var(&runtimes, "runtime", "trusted enclave `PLATFORM[=MEASUREMENT[,PIN=HEX…]]` replacing the Veracruz runtime hashes (repeatable)")
		},
		Run: func(e *env, fs *flag.FlagSet, args []string) error {
			defer func() { runtimes = nil }()
			return runPolicyImport(e, fs, args, &runtimes)
		},
	})
	return cs
}

func runPolicyImport(e *env, fs *flag.FlagSet, args []string, runtimes *stringList) error {
	args, err := cli.Interspersed(fs, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("policy import-veracruz takes one IN file, got %d arguments", len(args))
	}
	in := args[0]
	out := fs.Lookup("o").Value.String()
	if out == "" {
		return usagef("give the Truce policy file to write with -o FILE")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return withHint(fmt.Errorf("reading the Veracruz policy: %w", err), "give the path of a Veracruz policy JSON file")
	}
	p, all, err := policy.ImportVeracruz(data)
	var warnings []policy.Warning
	for _, w := range all {
		if len(*runtimes) > 0 && strings.HasPrefix(w.Path, "runtime_manager_hash_") {
			continue // replaced by --runtime
		}
		warnings = append(warnings, w)
		fmt.Fprintf(e.Stderr, "warning: %s: %s\n", in, w)
	}
	if err != nil {
		return withHint(fmt.Errorf("%s: %w", in, err), "the paths name places in the Veracruz file; fix them and import again")
	}

	p.Name = fs.Lookup("name").Value.String()
	if p.Name == "" {
		p.Name = strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
	}
	if v := fs.Lookup("expires").Value.String(); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return usagef("--expires: %q is not an RFC 3339 time: write it like 2027-01-01T00:00:00Z", v)
		}
		p.Expires = t
	}
	if v := fs.Lookup("host").Value.String(); v != "" {
		p.Host = v
	}
	if v := fs.Lookup("pas-url").Value.String(); v != "" {
		p.Attestation.Service = v
	}
	if v := fs.Lookup("pas-ca").Value.String(); v != "" {
		ca, err := identity.ReadCertificatePEM(v)
		if err != nil {
			return withHint(fmt.Errorf("--pas-ca: %w", err), "give the CA certificate of the attestation service, such as pas/ca.crt")
		}
		p.Attestation.CACert = string(policyspec.CertPEM(ca.Raw))
	}
	if len(*runtimes) > 0 {
		p.Attestation.Runtimes = nil
		for _, s := range *runtimes {
			rt, err := policyspec.Runtime(s)
			if err != nil {
				return err
			}
			p.Attestation.Runtimes = append(p.Attestation.Runtimes, rt)
		}
	}

	enc, err := policy.Encode(p)
	if err != nil {
		return fmt.Errorf("writing the policy: %w", err)
	}
	parsed, err := policy.Parse(enc, time.Now())
	if err != nil {
		return withHint(fmt.Errorf("the converted policy is not valid: %w", err),
			"these paths name places in the Truce policy; fix the Veracruz file or override with --pas-ca, --runtime, --expires, --host or --pas-url")
	}
	if out == "-" {
		_, err := e.Stdout.Write(enc)
		return err
	}
	if err := atomicfile.WriteNew(out, enc, 0o644); err != nil {
		if errors.Is(err, os.ErrExist) {
			return withHint(fmt.Errorf("%s exists: not overwriting it", out), "pick another -o, or remove %s first", out)
		}
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s (%d warnings)\npolicy hash: %s\n", out, len(warnings), parsed.HashHex())
	return nil
}
