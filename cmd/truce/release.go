package main

import (
	"flag"
	"fmt"
	"strings"
)

// releaseCommands are the commands of release.go.
func releaseCommands() (cs []*command) {
	var cf clientFlags
	var sum string
	cs = append(cs, &command{
		Name:    "release",
		Args:    "[flags] GUESTPATH",
		Summary: "release a held result so that its readers may read it",
		Help:    helpText("release"),
		Flags: func(fs *flag.FlagSet) {
			cf.declare(fs)
			fs.StringVar(&sum, "commitment", "", "release only the version with this `commitment` (hex, as the receipt names it)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("release takes one GUESTPATH, got %d arguments", len(args))
			}
			s, _, err := cf.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			r, err := s.Release(e.Ctx, args[0], sum)
			if err != nil {
				return clientError(err)
			}
			fmt.Fprintf(e.Stdout, "released %s (commitment %s)\n", r.Path, r.Commitment)
			fmt.Fprintf(e.Stdout, "released by: %s\n", strings.Join(r.ReleasedBy, ", "))
			if len(r.Pending) == 0 {
				fmt.Fprintln(e.Stdout, "readable now")
			} else {
				fmt.Fprintf(e.Stdout, "still held for: %s\n", strings.Join(r.Pending, ", "))
			}
			return nil
		},
	})
	return cs
}
