package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/truce-project/truce/internal/demo"
)

// demoCommands are the commands of demo.go.
func demoCommands() (cs []*command) {
	var keep string
	var timeout time.Duration
	cs = append(cs, &command{
		Name:    "demo",
		Args:    "[--keep DIR]",
		Summary: "run the whole story locally: attestation, uploads, a run, a receipt",
		Help:    helpText("demo"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&keep, "keep", "", "keep the demo's files in `DIR` (created; must not exist or be empty)")
			fs.DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(e.Ctx, timeout)
			defer cancel()
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding the truce executable: %w", err)
			}
			err = demo.Run(ctx, demo.Options{Exe: exe, Out: e.Stdout, Keep: keep})
			if ctx.Err() != nil && e.Ctx.Err() != nil {
				return withHint(errors.New("interrupted; everything the demo started is stopped"), "run \"truce demo\" again")
			}
			return clientError(err)
		},
	})
	return cs
}
