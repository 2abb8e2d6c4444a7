package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/host"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/pas"
	"github.com/truce-project/truce/policy"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func init() {
	var (
		policies                                stringList
		platform, pasURL, pasCA, listen, simKey string
		metricsAddr, logLevel                   string
		keepServing                             bool
	)
	register(&command{
		name:    "host serve",
		args:    "--policy FILE [--policy FILE…] [flags]",
		summary: "start enclaves for policies and relay clients to them",
		help: `Starts one runtime per policy (on sim, "truce runtime" as a child process
listening on a unix socket in a private directory), relays its attestation
to the attestation service, renews its certificate before it expires, and
relays client connections to it byte for byte. The TLS between clients and
an enclave ends inside the enclave: the host never holds a key that could
read it. Several policies share one port; the host routes by the TLS server
name clients send (the first 16 hex digits of the policy hash + ".truce"),
and a connection without one goes to the enclave when only one is served.

When every enclave is attested it prints "ready ADDR" on stdout. It ends
with exit code 0 once principals have shut every enclave down, or on
Ctrl-C (stopping the runtimes); if a runtime dies it logs it, marks the
enclave down and exits 1 — it never restarts an enclave silently (with
--keep-serving it goes on serving the other enclaves instead).

--pas and --pas-ca default to the first policy's attestation service URL
and CA; --listen defaults to the first policy's host.

Example:
  truce host serve --policy policy.json --platform sim \
      --sim-device-key pas/device.key --metrics 127.0.0.1:9090`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&policies, "policy", "policy `file` of an enclave to serve (repeat for several)")
			fs.StringVar(&platform, "platform", "sim", "enclave `platform`")
			fs.StringVar(&pasURL, "pas", "", "attestation service `URL` (default: the policy's)")
			fs.StringVar(&pasCA, "pas-ca", "", "attestation service CA certificate `file` (default: the policy's CA)")
			fs.StringVar(&listen, "listen", "", "`address` to accept clients on (default: the policy's host)")
			fs.StringVar(&simKey, "sim-device-key", "", "simulated device key `file` for platform sim")
			fs.StringVar(&metricsAddr, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics")
			fs.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
			fs.BoolVar(&keepServing, "keep-serving", false, "go on serving the other enclaves when a runtime dies")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if len(policies) == 0 {
				return usagef("--policy is required")
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level %q: use debug, info, warn or error", logLevel)
			}
			logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
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
				enclaves = append(enclaves, host.Enclave{Policy: pol, Platform: platform, SimDeviceKey: simKey})
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
			h, err := host.New(host.Config{
				Enclaves: enclaves, PAS: host.FromPAS(&pas.Client{URL: pasURL, CA: ca}),
				Logger: logger, RuntimeLog: e.stderr, KeepServing: keepServing,
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return withHint(fmt.Errorf("listening on %s: %w", listen, err), "choose a free address with --listen, or stop what uses it")
			}
			ctx, cancel := context.WithCancel(e.ctx)
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
					fmt.Fprintf(e.stdout, "ready %s\n", ln.Addr())
				case <-ctx.Done():
				}
			}()
			err = h.Serve(ctx, ln)
			if err != nil {
				hint := "read the runtime's log above; start the host again once the cause is fixed"
				if errors.Is(err, pas.ErrUnreachable) {
					hint = "check that the attestation service runs at " + pasURL + " (truce pas serve)"
				}
				return withHint(err, "%s", hint)
			}
			return nil
		},
	})
}

// loadPolicy reads and checks a policy file as of now.
func loadPolicy(file string) (*policy.Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, withHint(fmt.Errorf("reading the policy: %w", err), "give the policy file with --policy or $TRUCE_POLICY")
	}
	pol, err := policy.Parse(b, time.Now())
	if err != nil {
		return nil, withHint(fmt.Errorf("policy %s: %w", file, err), "check it with \"truce policy check %s\"", file)
	}
	return pol, nil
}
