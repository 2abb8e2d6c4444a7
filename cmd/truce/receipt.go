package main

import (
	"flag"
	"time"

	"github.com/truce-project/truce/internal/receiptcheck"
)

// receiptCommands are the commands of receipt.go.
func receiptCommands() (cs []*command) {
	var policyFile, at string
	var ins, outs receiptcheck.Openings
	cs = append(cs, &command{
		Name:    "receipt verify",
		Args:    "--policy FILE RECEIPT.json",
		Summary: "check a run's receipt: signature, enclave certificate, policy",
		Help:    helpText("receipt verify"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&policyFile, "policy", "", "policy `file` the run was under (required)")
			fs.StringVar(&at, "at", "", "verify as of this RFC 3339 `time` (default now)")
			ins, outs = nil, nil
			fs.Var(&ins, "input", "check the receipt names this input: `GUESTPATH=SALT:LOCALFILE` (repeats)")
			fs.Var(&outs, "output", "check the receipt names this output: `GUESTPATH=SALT:LOCALFILE` (repeats)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("give one receipt file")
			}
			if policyFile == "" {
				return usagef("--policy is required")
			}
			now := time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usagef("--at %q: give an RFC 3339 time such as 2026-06-01T12:00:00Z", at)
				}
				now = t
			}
			return receiptcheck.Verify(e.Stdout, receiptcheck.Check{
				Name: args[0], PolicyFile: policyFile, At: now, Inputs: ins, Outputs: outs,
				Read: func() ([]byte, error) {
					return readInput(e, args[0], receiptcheck.MaxFile, "receipt", "give the file holding the receipt")
				},
			})
		},
	})
	return cs
}
