package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/truce-project/truce/internal/demo"
)

// loadCommands are the commands of load.go.
func loadCommands() (cs []*command) {
	var (
		clients, enclaves, requests, size int
		duration                          time.Duration
		asJSON                            bool
	)
	cs = append(cs, &command{
		Name:    "load",
		Args:    "[--clients N] [--enclaves M] [--duration D | --requests K] [--size BYTES] [--json]",
		Summary: "measure throughput and latency of N clients against M enclaves on this machine",
		Help:    helpText("load"),
		Flags: func(fs *flag.FlagSet) {
			fs.IntVar(&clients, "clients", 8, "concurrent `N` clients (at most 512)")
			fs.IntVar(&enclaves, "enclaves", 1, "`M` enclaves on the host (at most 16)")
			fs.DurationVar(&duration, "duration", 10*time.Second, "how long to load (at most 10m)")
			fs.IntVar(&requests, "requests", 0, "stop after `K` requests in all instead of after --duration")
			fs.IntVar(&size, "size", 4096, "`BYTES` per file written")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		Run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			switch {
			case clients < 1 || clients > demo.MaxLoadClients:
				return usagef("--clients must be 1 to %d, not %d", demo.MaxLoadClients, clients)
			case enclaves < 1 || enclaves > demo.MaxLoadEnclaves:
				return usagef("--enclaves must be 1 to %d, not %d", demo.MaxLoadEnclaves, enclaves)
			case duration <= 0 || duration > demo.MaxLoadDuration:
				return usagef("--duration must be more than 0 and at most %v, not %v", demo.MaxLoadDuration, duration)
			case requests < 0 || requests > demo.MaxLoadRequests:
				return usagef("--requests must be 0 (use --duration) to %d, not %d", demo.MaxLoadRequests, requests)
			case size < 1 || size > demo.MaxLoadSize:
				return usagef("--size must be 1 to %d bytes, not %d", demo.MaxLoadSize, size)
			}
			if requests > 0 && flagSet(fs, "duration") {
				return usagef("give --duration or --requests, not both")
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("finding the truce executable: %w", err)
			}
			rep, err := demo.Load(e.Ctx, demo.LoadOptions{Exe: exe, Clients: clients, Enclaves: enclaves, Requests: requests,
				Duration: duration, Size: size, Keep: e.Getenv("TRUCE_LOAD_KEEP"), KeepHint: "TRUCE_LOAD_KEEP=DIR"})
			if err != nil {
				if e.Ctx.Err() != nil {
					return withHint(errors.New("interrupted; everything truce load started is stopped"), "run it again")
				}
				return clientError(err)
			}
			if asJSON {
				enc := json.NewEncoder(e.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.Print(e.Stdout)
			}
			if rep.Errors > 0 {
				return withHint(fmt.Errorf("%d of %d requests failed; the first: %s", rep.Errors, rep.Requests, rep.FirstError),
					"look at the host's log in a directory kept with TRUCE_LOAD_KEEP=DIR, or lower --clients")
			}
			return nil
		},
	})
	return cs
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
