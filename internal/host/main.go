package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/paswire"
	"github.com/truce-project/truce/internal/policyspec"
	"github.com/truce-project/truce/policy"
)

// MainConfig is what "truce host serve" is started with. Its zero value is
// refused with a usage error (a policy is required); the zero Platform is
// sim, the zero PAS, PASCA and Listen are the first policy's, the zero
// LogLevel info, no Metrics address serves no metrics, and nil writers
// discard.
type MainConfig struct {
	Policies     []string // policy files, one an enclave
	PolicyDir    string   // a directory whose every *.json is a policy to serve
	Platform     string   // the enclaves' platform
	PAS          string   // the attestation service's URL
	PASCA        string   // the attestation service's CA certificate file
	Credential   string   // this host's credential for the attestation service, read already
	Listen       string   // the address to accept clients on
	SimDeviceKey string   // the simulated device key file (platform sim)
	Metrics      string   // serve Prometheus metrics at http://Metrics/metrics
	LogLevel     string   // debug, info, warn or error
	KeepServing  bool     // go on serving when a runtime dies
	MaxRuns      int      // per enclave: most runs at once
	MemoryMiB    int      // per enclave: writable memory limit in MiB

	Stdout io.Writer // gets "ready ADDR" once every enclave is certified
	Log    io.Writer // the host's and the runtimes' logs
}

// Main serves the enclaves of cfg until ctx ends or, unless KeepServing,
// a runtime dies. Its errors carry hints (package internal/hint) for the
// truce command to print.
func Main(ctx context.Context, cfg MainConfig) error {
	policies := append([]string(nil), cfg.Policies...)
	if cfg.PolicyDir != "" {
		files, err := filepath.Glob(filepath.Join(cfg.PolicyDir, "*.json"))
		if err != nil {
			return hint.Usagef("--policy-dir %q: %v", cfg.PolicyDir, err)
		}
		if len(files) == 0 {
			return hint.With(fmt.Errorf("--policy-dir %s holds no *.json policy", cfg.PolicyDir), "put the policies to serve there, named NAME.json")
		}
		policies = append(policies, files...)
	}
	if len(policies) == 0 {
		return hint.With(hint.Usagef("--policy or --policy-dir is required"), "give the policy file of each enclave to serve")
	}
	if cfg.Platform == "" {
		cfg.Platform = "sim"
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return hint.Usagef("--log-level %q: use debug, info, warn or error", cfg.LogLevel)
	}
	logger := slog.New(slog.NewTextHandler(cfg.Log, &slog.HandlerOptions{Level: level}))
	var enclaves []Enclave
	var pols []*policy.Policy
	for _, f := range policies {
		pol, err := policyspec.Load(f)
		if err != nil {
			return err
		}
		if pol.Sequence() != 0 {
			return hint.With(fmt.Errorf("policy %s succeeds policy %s: an enclave starts only with a first policy", f, pol.Lifecycle.Predecessor.Policy),
				"serve the first policy of the chain and apply successors to the running enclave with truce policy apply")
		}
		pols = append(pols, pol)
		enclaves = append(enclaves, Enclave{Policy: pol, Platform: cfg.Platform, SimDeviceKey: cfg.SimDeviceKey, MaxRuns: cfg.MaxRuns, MemoryMiB: cfg.MemoryMiB})
	}
	first := pols[0]
	pasURL := cfg.PAS
	if pasURL == "" {
		pasURL = first.Attestation.Service
	}
	ca := first.CACertificate()
	if cfg.PASCA != "" {
		c, err := identity.ReadCertificatePEM(cfg.PASCA)
		if err != nil {
			return hint.With(fmt.Errorf("--pas-ca: %w", err), "give the attestation service's ca.crt")
		}
		ca = c
	}
	listen := cfg.Listen
	if listen == "" {
		listen = first.Host
	}
	h, err := New(Config{
		Enclaves: enclaves, PAS: FromPAS(&paswire.Client{URL: pasURL, CA: ca, Credential: cfg.Credential}),
		Logger: logger, RuntimeLog: cfg.Log, KeepServing: cfg.KeepServing,
	})
	if errors.Is(err, ErrLimits) {
		return hint.With(err, "raise --enclave-memory or lower --max-runs")
	}
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return hint.With(fmt.Errorf("listening on %s: %w", listen, err), "choose a free address with --listen, or stop what uses it")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Metrics != "" {
		mln, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			ln.Close()
			return hint.With(fmt.Errorf("metrics listener on %s: %w", cfg.Metrics, err), "choose a free address with --metrics")
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", h.MetricsHandler())
		// An idle connection is closed after a minute: without IdleTimeout
		// (nor ReadTimeout) one that sends nothing is kept for good.
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, WriteTimeout: time.Minute}
		go srv.Serve(mln)
		defer srv.Close()
		logger.Info("metrics", "url", "http://"+mln.Addr().String()+"/metrics")
	}
	go func() {
		select {
		case <-h.Ready():
			fmt.Fprintf(cfg.Stdout, "ready %s\n", ln.Addr())
		case <-ctx.Done():
		}
	}()
	if err := h.Serve(ctx, ln); err != nil {
		return hint.With(err, "%s", serveHint(err, pasURL))
	}
	return nil
}

// serveHint is what to do after Serve failed with err.
func serveHint(err error, pasURL string) string {
	switch {
	case errors.Is(err, paswire.ErrUnreachable):
		return "check that the attestation service runs at " + pasURL + " (truce pas serve)"
	case errors.Is(err, paswire.ErrUnauthenticated):
		return "the attestation service does not know this host's credential: check --pas-credential, or have its operator run \"truce pas host add\" and restart the service"
	case errors.Is(err, paswire.ErrRateLimited), errors.Is(err, paswire.ErrBusy):
		return "the attestation service is refusing nonces to this host: authenticate it with --pas-credential (truce pas host add on the service), or start it again later"
	case errors.Is(err, paswire.ErrSecondInstance):
		return "the policy allows one enclave instance (attestation.single_instance) and the attestation service certified another one already: an enclave that stopped cannot be started again under this policy; agree on a new policy"
	}
	return "read the runtime's log above; start the host again once the cause is fixed"
}
