package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/doctor"
	"github.com/truce-project/truce/policy"
)

func init() {
	var platforms, polFile string
	var timeout time.Duration
	register(&command{
		name:    "doctor",
		args:    "[--platform P,…] [--policy FILE]",
		summary: "check that this host can run enclaves of each platform",
		help:    helpText("doctor"),
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&platforms, "platform", "", "comma-separated `platforms` to check (default: all of "+strings.Join(policy.Platforms(), ", ")+")")
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
					if _, ok := policy.Platform(p); !ok {
						return usagef("unknown platform %q: use one of %s", p, strings.Join(policy.Platforms(), ", "))
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
