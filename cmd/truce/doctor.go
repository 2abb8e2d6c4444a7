package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/doctor"
	"github.com/truce-project/truce/platform"
)

func init() {
	var platforms, polFile string
	var timeout time.Duration
	register(&command{
		name:    "doctor",
		args:    "[--platform P,…] [--policy FILE]",
		summary: "check that this host can run enclaves of each platform",
		help: `Checks this host, one line each with ✓ or ✗ and, for a ✗, a hint:

  host     the clock (set, and within the policy's validity and its
           attestation service CA's, with --policy); with --policy, that
           the attestation service it names accepts TCP connections
  sim      nothing needed (testing only)
  nitro    /dev/nsm (inside an enclave), /dev/vsock, /dev/nitro_enclaves
           (on the parent instance)
  snp      configfs-tsm (/sys/kernel/config/tsm/report) or /dev/sev-guest,
           the kernel's SEV-SNP guest flag, AMD's key distribution service
  tdx      configfs-tsm or /dev/tdx_guest, the kernel's TDX guest flag,
           Intel's provisioning certification service
  sgx      Gramine's /dev/attestation, /dev/sgx_enclave, Intel's service
  cca      configfs-tsm
  psa      nothing to check: tokens come from the device's TEE client

It only looks: it produces no evidence and changes nothing. Without
--platform every platform is checked and a summary says which are ready;
the exit code is 1 if a host check fails. With --platform the exit code is
1 if any check of those platforms fails.

Examples:
  truce doctor
  truce doctor --platform snp --policy policy.json`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&platforms, "platform", "", "comma-separated `platforms` to check (default: all of "+strings.Join(platform.Names(), ", ")+")")
			fs.StringVar(&polFile, "policy", "", "also check the clock against this policy `file` and reach its attestation service ($TRUCE_POLICY)")
			fs.DurationVar(&timeout, "timeout", 5*time.Second, "how long each connection attempt may take")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			cfg := doctor.Config{Timeout: timeout}
			if platforms != "" {
				for _, p := range strings.Split(platforms, ",") {
					if _, ok := platform.Lookup(p); !ok {
						return usagef("unknown platform %q: use one of %s", p, strings.Join(platform.Names(), ", "))
					}
					cfg.Platforms = append(cfg.Platforms, p)
				}
			}
			if polFile == "" {
				polFile = e.getenv("TRUCE_POLICY")
			}
			if polFile != "" {
				pol, err := loadPolicy(polFile)
				if err != nil {
					return err
				}
				cfg.Policy = pol
			}
			results := doctor.Run(e.ctx, cfg)
			return report(e, results, platforms != "")
		},
	})
}

// report prints the results by section and says which platforms are
// ready; strict makes any failure an error.
func report(e *env, results []doctor.Result, strict bool) error {
	section := "-"
	failed := map[string]bool{}
	var order []string
	for _, r := range results {
		if r.Platform != section {
			section = r.Platform
			name := section
			if name == "" {
				name = "host"
			}
			fmt.Fprintf(e.stdout, "%s\n", name)
			order = append(order, section)
		}
		fmt.Fprintf(e.stdout, "  %s\n", r)
		if !r.OK {
			fmt.Fprintf(e.stdout, "      hint: %s\n", r.Hint)
			failed[r.Platform] = true
		}
	}
	var ready []string
	for _, p := range order {
		if p != "" && !failed[p] {
			ready = append(ready, p)
		}
	}
	if len(ready) == 0 {
		ready = []string{"none"}
	}
	fmt.Fprintf(e.stdout, "ready: %s\n", strings.Join(ready, ", "))
	switch {
	case failed[""]:
		return withHint(fmt.Errorf("a host check failed"), "see the ✗ lines above and their hints")
	case strict && len(failed) > 0:
		return withHint(fmt.Errorf("this host cannot run every platform asked for"), "see the ✗ lines above and their hints")
	}
	return nil
}
