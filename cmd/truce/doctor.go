package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/doctor"
	"github.com/truce-project/truce/platform"
)

// doctorCommands are the commands of doctor.go.
func doctorCommands() (cs []*command) {
	var platforms, polFile string
	var timeout time.Duration
	cs = append(cs, &command{
		Name:    "doctor",
		Args:    "[--platform P,…] [--policy FILE]",
		Summary: "check that this host can run enclaves of each platform",
		Help:    helpText("doctor"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&platforms, "platform", "", "comma-separated `platforms` to check (default: all of "+strings.Join(platform.Names(), ", ")+")")
			fs.StringVar(&polFile, "policy", "", "also check the clock against this policy `file` and reach its attestation service ($TRUCE_POLICY)")
			fs.DurationVar(&timeout, "timeout", 5*time.Second, "how long each connection attempt may take")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
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
				polFile = e.Getenv("TRUCE_POLICY")
			}
			if polFile != "" {
				pol, err := loadPolicy(polFile)
				if err != nil {
					return err
				}
				cfg.Policy = pol
			}
			results := doctor.Run(e.Ctx, cfg)
			return report(e, results, platforms != "")
		},
	})
	return cs
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
			fmt.Fprintf(e.Stdout, "%s\n", name)
			order = append(order, section)
		}
		fmt.Fprintf(e.Stdout, "  %s\n", r)
		if !r.OK {
			fmt.Fprintf(e.Stdout, "      hint: %s\n", r.Hint)
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
	fmt.Fprintf(e.Stdout, "ready: %s\n", strings.Join(ready, ", "))
	switch {
	case failed[""]:
		return withHint(fmt.Errorf("a host check failed"), "see the ✗ lines above and their hints")
	case strict && len(failed) > 0:
		return withHint(fmt.Errorf("this host cannot run every platform asked for"), "see the ✗ lines above and their hints")
	}
	return nil
}
