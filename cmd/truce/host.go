package main

import (
	"flag"
	"fmt"
	"strings"

	"github.com/truce-project/truce/internal/host"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/policyspec"
	"github.com/truce-project/truce/policy"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// hostCommands are the commands of host.go.
func hostCommands() (cs []*command) {
	var (
		cfg           host.MainConfig
		policies      stringList
		pasCredential string
	)
	cs = append(cs, &command{
		Name:    "host serve",
		Args:    "--policy FILE [--policy FILE…] | --policy-dir DIR [flags]",
		Summary: "start enclaves for policies and relay clients to them",
		Help:    helpText("host serve"),
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&policies, "policy", "policy `file` of an enclave to serve (repeat for several)")
			fs.StringVar(&cfg.Platform, "platform", "sim", "enclave `platform`")
			fs.StringVar(&cfg.PAS, "pas", "", "attestation service `URL` (default: the policy's)")
			fs.StringVar(&cfg.PASCA, "pas-ca", "", "attestation service CA certificate `file` (default: the policy's CA)")
			fs.StringVar(&pasCredential, "pas-credential", "", "host credential `file` for the attestation service (truce pas host add; default $TRUCE_PAS_CREDENTIAL)")
			fs.StringVar(&cfg.Listen, "listen", "", "`address` to accept clients on (default: the policy's host)")
			fs.StringVar(&cfg.SimDeviceKey, "sim-device-key", "", "simulated device key `file` for platform sim")
			fs.StringVar(&cfg.Metrics, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics")
			fs.StringVar(&cfg.LogLevel, "log-level", "info", "log `level`: debug, info, warn or error")
			fs.BoolVar(&cfg.KeepServing, "keep-serving", false, "go on serving the other enclaves when a runtime dies")
			fs.StringVar(&cfg.PolicyDir, "policy-dir", "", "serve every *.json policy `directory` holds")
			fs.IntVar(&cfg.MaxRuns, "max-runs", 0, "per enclave: most program runs at once (0: no bound, or what --enclave-memory holds)")
			fs.IntVar(&cfg.MemoryMiB, "enclave-memory", 0, "per enclave: writable memory limit of the runtime in `MiB` (0: none)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			c := cfg
			c.Policies, c.Stdout, c.Log = policies, e.Stdout, e.Stderr
			if pasCredential == "" {
				pasCredential = e.Getenv("TRUCE_PAS_CREDENTIAL")
			}
			if pasCredential != "" {
				cred, err := pas.ReadCredential(pasCredential)
				if err != nil {
					return withHint(fmt.Errorf("--pas-credential: %w", err), "give the file \"truce pas host add\" wrote for this host")
				}
				c.Credential = cred
			}
			return host.Main(e.Ctx, c)
		},
	})
	return cs
}

// loadPolicy reads and checks a policy file as of now.
func loadPolicy(file string) (*policy.Policy, error) { return policyspec.Load(file) }
