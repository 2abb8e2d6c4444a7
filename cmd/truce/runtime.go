package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/internal/control"
	"github.com/truce-project/truce/internal/engine"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/internal/provider/tsm"
	trt "github.com/truce-project/truce/internal/runtime"
	"github.com/truce-project/truce/policy"
)

// runtimeCommands are the commands of runtime.go.
func runtimeCommands() (cs []*command) {
	var (
		policyFile, platform, listen, simKey, engineKind, logLevel string
		maxRuns                                                    int
	)
	cs = append(cs, &command{
		Name:    "runtime",
		Args:    "--policy FILE --platform sim --listen unix:PATH|tcp:ADDR [flags]",
		Summary: "the runtime inside the enclave (started by truce host serve)",
		Help:    helpText("runtime"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&policyFile, "policy", "", "policy `file` to enforce (required)")
			fs.StringVar(&platform, "platform", "sim", "attestation `platform`; this build provides evidence on: sim, and snp, tdx, cca inside a confidential VM, nitro inside a Nitro enclave, sgx under Gramine")
			fs.StringVar(&listen, "listen", "", "where to serve the API: unix:`PATH` or tcp:HOST:PORT (required)")
			fs.StringVar(&simKey, "sim-device-key", "", "simulated device key `file` (platform sim; default $TRUCE_SIM_DEVICE_KEY)")
			fs.StringVar(&engineKind, "engine", "", "WebAssembly engine: "+runtimeEngineKinds()+" (default "+string(engine.Default())+")")
			fs.StringVar(&logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
			fs.IntVar(&maxRuns, "max-runs", 0, "most program runs and pipelines in progress at once; more are refused with 429 (0: no bound)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			if policyFile == "" {
				return usagef("--policy is required")
			}
			if listen == "" {
				return usagef("--listen is required: give unix:PATH or tcp:HOST:PORT")
			}
			if maxRuns < 0 {
				return usagef("--max-runs must be 0 (no bound) or more, not %d", maxRuns)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usagef("--log-level %q: use debug, info, warn or error", logLevel)
			}
			logger := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: level}))

			data, err := os.ReadFile(policyFile)
			if err != nil {
				return withHint(fmt.Errorf("reading the policy: %w", err), "give the policy file with --policy")
			}
			pol, err := policy.Parse(data, time.Now())
			if err != nil {
				return withHint(fmt.Errorf("policy %s: %w", policyFile, err), "fix the policy (truce policy check %s) and start again", policyFile)
			}
			provider, err := runtimeProvider(e, platform, simKey)
			if err != nil {
				return err
			}
			kind, err := engine.ParseKind(engineKind)
			if err != nil {
				return withHint(err, "use one of: %s", runtimeEngineKinds())
			}
			eng, err := engine.New(engine.Options{Kind: kind})
			if err != nil {
				return withHint(fmt.Errorf("starting the %s engine: %w", kind, err), "choose another with --engine (%s)", runtimeEngineKinds())
			}
			defer eng.Close()
			rt, err := trt.New(trt.Config{Policy: pol, Provider: provider, Engine: eng, Logger: logger, MaxRuns: maxRuns})
			if err != nil {
				return withHint(err, "start the enclave with a valid policy")
			}
			ln, err := trt.Listen(listen)
			if err != nil {
				return withHint(err, "give --listen unix:PATH (a writable directory) or tcp:HOST:PORT (a free port)")
			}
			logger.Info("runtime started", "policy", pol.HashHex(), "platform", provider.Platform(), "engine", eng.Kind(), "listen", trt.ListenSpec(ln))
			err = rt.Serve(e.Ctx, control.NewConn(e.Stdin, e.Stdout), ln)
			if errors.Is(err, trt.ErrHostGone) {
				return withHint(err, "the host stopped relaying; the enclave's state has been wiped")
			}
			if err != nil {
				return err
			}
			logger.Info("runtime stopped")
			return nil
		},
	})
	return cs
}

// runtimeProvider returns the evidence provider for a platform.
func runtimeProvider(e *env, platform, simKey string) (attest.Provider, error) {
	switch platform {
	case attest.SimPlatform:
		if simKey == "" {
			simKey = e.Getenv("TRUCE_SIM_DEVICE_KEY")
		}
		if simKey == "" {
			return nil, withHint(errors.New("platform sim needs the simulated device key"),
				"give --sim-device-key FILE (truce pas init writes one) or set TRUCE_SIM_DEVICE_KEY")
		}
		dev, err := simprovider.LoadDevice(simKey)
		if err != nil {
			return nil, withHint(fmt.Errorf("loading the simulated device key: %w", err), "give the key file truce pas init wrote")
		}
		m, err := sim.MeasureSelf()
		if err != nil {
			return nil, fmt.Errorf("measuring the runtime executable: %w", err)
		}
		return simprovider.NewProvider(dev, m), nil
	}
	if platform == "snp" || platform == "tdx" || platform == "cca" {
		p, err := tsm.OpenPlatform(platform, tsm.Config{})
		if err != nil {
			return nil, withHint(err, "run it as root inside a confidential VM of platform %s (see docs/guide/platforms/%s.md)", platform, platform)
		}
		return p, nil
	}
	if open, ok := enclaveProviders[platform]; ok {
		return open()
	}
	return nil, withHint(fmt.Errorf("platform %q has no evidence provider in this build", platform), "use --platform sim")
}

// enclaveProviders open the evidence providers of enclave platforms, by
// name; each platform_*.go file adds its own.
var enclaveProviders = map[string]func() (attest.Provider, error){}

func runtimeEngineKinds() string {
	ks := engine.Kinds()
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}
