package main

import (
	"flag"
	"fmt"
	"strings"
)

func init() {
	var cf clientFlags
	var sum string
	register(&command{
		name:    "release",
		args:    "[flags] GUESTPATH",
		summary: "release a held result so that its readers may read it",
		help:    helpText("release"),
		flags: func(fs *flag.FlagSet) {
			cf.declare(fs)
			fs.StringVar(&sum, "commitment", "", "release only the version with this `commitment` (hex, as the receipt names it)")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("release takes one GUESTPATH, got %d arguments", len(args))
			}
			s, _, err := cf.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			r, err := s.Release(e.ctx, args[0], sum)
			if err != nil {
				return clientError(err)
			}
			fmt.Fprintf(e.stdout, "released %s (commitment %s)\n", r.Path, r.Commitment)
			fmt.Fprintf(e.stdout, "released by: %s\n", strings.Join(r.ReleasedBy, ", "))
			if len(r.Pending) == 0 {
				fmt.Fprintln(e.stdout, "readable now")
			} else {
				fmt.Fprintf(e.stdout, "still held for: %s\n", strings.Join(r.Pending, ", "))
			}
			return nil
		},
	})
}
