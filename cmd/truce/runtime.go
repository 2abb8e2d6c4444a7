package main

import (
	"flag"

	"github.com/truce-project/truce/internal/engine"
	trt "github.com/truce-project/truce/internal/runtime"
)

// runtimeCommands are the commands of runtime.go.
func runtimeCommands() (cs []*command) {
	var cfg trt.MainConfig
	cs = append(cs, &command{
		Name:    "runtime",
		Args:    "--policy FILE --platform sim --listen unix:PATH|tcp:ADDR [flags]",
		Summary: "the runtime inside the enclave (started by truce host serve)",
		Help:    helpText("runtime"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cfg.PolicyFile, "policy", "", "policy `file` to enforce (required)")
			fs.StringVar(&cfg.Platform, "platform", "sim", "attestation `platform`; this build provides evidence on: sim, and snp, tdx, cca inside a confidential VM, nitro inside a Nitro enclave, sgx under Gramine")
			fs.StringVar(&cfg.Listen, "listen", "", "where to serve the API: unix:`PATH` or tcp:HOST:PORT (required)")
			fs.StringVar(&cfg.SimDeviceKey, "sim-device-key", "", "simulated device key `file` (platform sim; default $TRUCE_SIM_DEVICE_KEY)")
			fs.StringVar(&cfg.Engine, "engine", "", "WebAssembly engine: "+engine.KindList()+" (default "+string(engine.Default())+")")
			fs.StringVar(&cfg.LogLevel, "log-level", "info", "log `level`: debug, info, warn or error")
			fs.IntVar(&cfg.MaxRuns, "max-runs", 0, "most program runs and pipelines in progress at once; more are refused with 429 (0: no bound)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			c := cfg
			if c.SimDeviceKey == "" {
				c.SimDeviceKey = e.Getenv("TRUCE_SIM_DEVICE_KEY")
			}
			c.ControlIn, c.ControlOut, c.Log = e.Stdin, e.Stdout, e.Stderr
			return trt.Main(e.Ctx, c)
		},
	})
	return cs
}
