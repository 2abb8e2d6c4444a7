package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/attest"
	"github.com/truce-project/truce/attest/nitro"
	"github.com/truce-project/truce/attest/sgx"
	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/internal/control"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/hint"
	nitroprovider "github.com/truce-project/truce/internal/provider/nitro"
	sgxprovider "github.com/truce-project/truce/internal/provider/sgx"
	simprovider "github.com/truce-project/truce/internal/provider/sim"
	"github.com/truce-project/truce/internal/provider/tsm"
	"github.com/truce-project/truce/policy"
)

// MainConfig is what "truce runtime" is started with. Its zero value is
// refused with a usage error naming the first missing field: PolicyFile
// and Listen are required; the zero Platform is sim, the zero Engine the
// default engine, the zero LogLevel info, zero MaxRuns no bound, and nil
// streams discard (Control then reads nothing).
type MainConfig struct {
	PolicyFile   string // the policy to enforce
	Platform     string // attestation platform: sim, snp, tdx, cca, nitro or sgx
	Listen       string // unix:PATH or tcp:HOST:PORT
	SimDeviceKey string // the simulated device key file (platform sim)
	Engine       string // the WebAssembly engine's kind (engine.ParseKind)
	LogLevel     string // debug, info, warn or error
	MaxRuns      int    // most runs and pipelines at once; 0: no bound

	ControlIn  io.Reader // the control protocol from the host
	ControlOut io.Writer // the control protocol to the host
	Log        io.Writer // the runtime's log
}

// Main runs the runtime of cfg until ctx ends or the host closes the
// control channel: it reads the policy, opens the platform's evidence
// provider (OpenProvider) and the engine, listens and serves. Its errors
// carry hints (package internal/hint) for the truce command to print.
func Main(ctx context.Context, cfg MainConfig) error {
	if cfg.PolicyFile == "" {
		return hint.Usagef("--policy is required")
	}
	if cfg.Listen == "" {
		return hint.Usagef("--listen is required: give unix:PATH or tcp:HOST:PORT")
	}
	if cfg.MaxRuns < 0 {
		return hint.Usagef("--max-runs must be 0 (no bound) or more, not %d", cfg.MaxRuns)
	}
	if cfg.Platform == "" {
		cfg.Platform = attest.SimPlatform
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.ControlIn == nil {
		cfg.ControlIn = strings.NewReader("")
	}
	if cfg.ControlOut == nil {
		cfg.ControlOut = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return hint.Usagef("--log-level %q: use debug, info, warn or error", cfg.LogLevel)
	}
	logger := slog.New(slog.NewTextHandler(cfg.Log, &slog.HandlerOptions{Level: level}))

	data, err := os.ReadFile(cfg.PolicyFile)
	if err != nil {
		return hint.With(fmt.Errorf("reading the policy: %w", err), "give the policy file with --policy")
	}
	pol, err := policy.Parse(data, time.Now())
	if err != nil {
		return hint.With(fmt.Errorf("policy %s: %w", cfg.PolicyFile, err), "fix the policy (truce policy check %s) and start again", cfg.PolicyFile)
	}
	provider, err := OpenProvider(cfg.Platform, cfg.SimDeviceKey)
	if err != nil {
		return err
	}
	kind, err := engine.ParseKind(cfg.Engine)
	if err != nil {
		return hint.With(err, "use one of: %s", engine.KindList())
	}
	eng, err := engine.New(engine.Options{Kind: kind})
	if err != nil {
		return hint.With(fmt.Errorf("starting the %s engine: %w", kind, err), "choose another with --engine (%s)", engine.KindList())
	}
	defer eng.Close()
	rt, err := New(Config{Policy: pol, Provider: provider, Engine: eng, Logger: logger, MaxRuns: cfg.MaxRuns})
	if err != nil {
		return hint.With(err, "start the enclave with a valid policy")
	}
	ln, err := Listen(cfg.Listen)
	if err != nil {
		return hint.With(err, "give --listen unix:PATH (a writable directory) or tcp:HOST:PORT (a free port)")
	}
	logger.Info("runtime started", "policy", pol.HashHex(), "platform", provider.Platform(), "engine", eng.Kind(), "listen", ListenSpec(ln))
	err = rt.Serve(ctx, control.NewConn(cfg.ControlIn, cfg.ControlOut), ln)
	if errors.Is(err, ErrHostGone) {
		return hint.With(err, "the host stopped relaying; the enclave's state has been wiped")
	}
	if err != nil {
		return err
	}
	logger.Info("runtime stopped")
	return nil
}

// ErrNoProvider is returned by OpenProvider for a platform this build
// provides no evidence on.
var ErrNoProvider = errors.New("no evidence provider in this build")

// OpenProvider returns the evidence provider for a platform, by name: sim
// (with the simulated device key file simDeviceKey), snp, tdx and cca
// (configfs-tsm inside a confidential VM), nitro (the NSM inside a Nitro
// enclave) and sgx (/dev/attestation under Gramine). It is the one place
// that maps platform names to providers.
func OpenProvider(platform, simDeviceKey string) (attest.Provider, error) {
	switch platform {
	case attest.SimPlatform:
		if simDeviceKey == "" {
			return nil, hint.With(errors.New("platform sim needs the simulated device key"),
				"give --sim-device-key FILE (truce pas init writes one) or set TRUCE_SIM_DEVICE_KEY")
		}
		dev, err := simprovider.LoadDevice(simDeviceKey)
		if err != nil {
			return nil, hint.With(fmt.Errorf("loading the simulated device key: %w", err), "give the key file truce pas init wrote")
		}
		m, err := sim.MeasureSelf()
		if err != nil {
			return nil, fmt.Errorf("measuring the runtime executable: %w", err)
		}
		return simprovider.NewProvider(dev, m), nil
	case "snp", "tdx", "cca":
		p, err := tsm.OpenPlatform(platform, tsm.Config{})
		if err != nil {
			return nil, hint.With(err, "run it as root inside a confidential VM of platform %s (see docs/guide/platforms/%s.md)", platform, platform)
		}
		return p, nil
	case nitro.Platform:
		dev, err := nitroprovider.OpenDevice(nitroprovider.DevicePath)
		if err != nil {
			return nil, hint.With(err, "run the runtime inside a Nitro enclave (see docs/guide/platforms/nitro.md)")
		}
		return &nitroprovider.Provider{Device: dev}, nil
	case sgx.Platform:
		if _, err := sgxprovider.DirFiles(sgxprovider.AttestationDir).ReadFile("attestation_type"); err != nil {
			return nil, hint.With(err, "run the runtime under Gramine with sgx.remote_attestation = \"dcap\" (see docs/guide/platforms/sgx.md)")
		}
		return &sgxprovider.Provider{}, nil
	}
	return nil, hint.With(fmt.Errorf("platform %q has %w", platform, ErrNoProvider), "use --platform sim")
}
