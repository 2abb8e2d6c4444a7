package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/clientconf"
	"github.com/truce-project/truce/internal/host"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/internal/paswire"
	"github.com/truce-project/truce/policy"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// hostCommands are the commands of host.go.
func hostCommands() (cs []*command) {
	var (
		policies                                           stringList
		policyDir, platform, pasURL, pasCA, listen, simKey string
		pasCredential                                      string
		metricsAddr, logLevel                              string
		keepServing                                        bool
		maxRuns, memoryMiB                                 int
	)
	cs = append(cs, &command{
		Name:    "host serve",
		Args:    "--policy FILE [--policy FILE…] | --policy-dir DIR [flags]",
		Summary: "start enclaves for policies and relay clients to them",
		Help:    helpText("host serve"),
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&policies, "policy", "policy `file` of an enclave to serve (repeat for several)")
			fs.StringVar(&platform, "platform", "sim", "enclave `platform`")
			fs.StringVar(&pasURL, "pas", "", "attestation service `URL` (default: the policy's)")
			fs.StringVar(&pasCA, "pas-ca", "", "attestation service CA certificate `file` (default: the policy's CA)")
			fs.StringVar(&pasCredential, "pas-credential", "", "host credential `file` for the attestation service (truce pas host add; default $TRUCE_PAS_CREDENTIAL)")
			fs.StringVar(&listen, "listen", "", "`address` to accept clients on (default: the policy's host)")
			fs.StringVar(&simKey, "sim-device-key", "", "simulated device key `file` for platform sim")
			fs.StringVar(&metricsAddr, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics")
			fs.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
			fs.BoolVar(&keepServing, "keep-serving", false, "go on serving the other enclaves when a runtime dies")
			fs.StringVar(&policyDir, "policy-dir", "", "serve every *.json policy `directory` holds")
			fs.IntVar(&maxRuns, "max-runs", 0, "per enclave: most program runs at once (0: no bound, or what --enclave-memory holds)")
			fs.IntVar(&memoryMiB, "enclave-memory", 0, "per enclave: writable memory limit of the runtime in `MiB` (0: none)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if policyDir != "" {
				files, err := filepath.Glob(filepath.Join(policyDir, "*.json"))
				if err != nil {
					return usagef("--policy-dir %q: %v", policyDir, err)
				}
				if len(files) == 0 {
					return withHint(fmt.Errorf("--policy-dir %s holds no *.json policy", policyDir), "put the policies to serve there, named NAME.json")
				}
				policies = append(policies, files...)
			}
			if len(policies) == 0 {
				return withHint(usagef("--policy or --policy-dir is required"), "give the policy file of each enclave to serve")
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level %q: use debug, info, warn or error", logLevel)
			}
			logger := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))
			var enclaves []host.Enclave
			var pols []*policy.Policy
			for _, f := range policies {
				pol, err := loadPolicy(f)
				if err != nil {
					return err
				}
				if pol.Sequence() != 0 {
					return withHint(fmt.Errorf("policy %s succeeds policy %s: an enclave starts only with a first policy", f, pol.Lifecycle.Predecessor.Policy),
						"serve the first policy of the chain and apply successors to the running enclave with truce policy apply")
				}
				pols = append(pols, pol)
				enclaves = append(enclaves, host.Enclave{Policy: pol, Platform: platform, SimDeviceKey: simKey, MaxRuns: maxRuns, MemoryMiB: memoryMiB})
			}
			first := pols[0]
			if pasURL == "" {
				pasURL = first.Attestation.Service
			}
			ca := first.CACertificate()
			if pasCA != "" {
				c, err := identity.ReadCertificatePEM(pasCA)
				if err != nil {
					return withHint(fmt.Errorf("--pas-ca: %w", err), "give the attestation service's ca.crt")
				}
				ca = c
			}
			if listen == "" {
				listen = first.Host
			}
			if pasCredential == "" {
				pasCredential = e.Getenv("TRUCE_PAS_CREDENTIAL")
			}
			var cred string
			if pasCredential != "" {
				c, err := pas.ReadCredential(pasCredential)
				if err != nil {
					return withHint(fmt.Errorf("--pas-credential: %w", err), "give the file \"truce pas host add\" wrote for this host")
				}
				cred = c
			}
			h, err := host.New(host.Config{
				Enclaves: enclaves, PAS: host.FromPAS(&paswire.Client{URL: pasURL, CA: ca, Credential: cred}),
				Logger: logger, RuntimeLog: e.Stderr, KeepServing: keepServing,
			})
			if errors.Is(err, host.ErrLimits) {
				return withHint(err, "raise --enclave-memory or lower --max-runs")
			}
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return withHint(fmt.Errorf("listening on %s: %w", listen, err), "choose a free address with --listen, or stop what uses it")
			}
			ctx, cancel := context.WithCancel(e.Ctx)
			defer cancel()
			if metricsAddr != "" {
				mln, err := net.Listen("tcp", metricsAddr)
				if err != nil {
					ln.Close()
					return withHint(fmt.Errorf("metrics listener on %s: %w", metricsAddr, err), "choose a free address with --metrics")
				}
				mux := http.NewServeMux()
				mux.Handle("/metrics", h.MetricsHandler())
				srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
				go srv.Serve(mln)
				defer srv.Close()
				logger.Info("metrics", "url", "http://"+mln.Addr().String()+"/metrics")
			}
			go func() {
				select {
				case <-h.Ready():
					fmt.Fprintf(e.Stdout, "ready %s\n", ln.Addr())
				case <-ctx.Done():
				}
			}()
			err = h.Serve(ctx, ln)
			if err != nil {
				hint := "read the runtime's log above; start the host again once the cause is fixed"
				switch {
				case errors.Is(err, paswire.ErrUnreachable):
					hint = "check that the attestation service runs at " + pasURL + " (truce pas serve)"
				case errors.Is(err, paswire.ErrUnauthenticated):
					hint = "the attestation service does not know this host's credential: check --pas-credential, or have its operator run \"truce pas host add\" and restart the service"
				case errors.Is(err, paswire.ErrRateLimited), errors.Is(err, paswire.ErrBusy):
					hint = "the attestation service is refusing nonces to this host: authenticate it with --pas-credential (truce pas host add on the service), or start it again later"
				case errors.Is(err, paswire.ErrSecondInstance):
					hint = "the policy allows one enclave instance (attestation.single_instance) and the attestation service certified another one already: an enclave that stopped cannot be started again under this policy; agree on a new policy"
				}
				return withHint(err, "%s", hint)
			}
			return nil
		},
	})
	return cs
}

// loadPolicy reads and checks a policy file as of now.
func loadPolicy(file string) (*policy.Policy, error) { return clientconf.LoadPolicy(file) }
