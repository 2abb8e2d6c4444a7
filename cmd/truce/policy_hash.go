package main

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"

	"github.com/truce-project/truce/policy"
)

// policyHashCommands are the commands of policy_hash.go.
func policyHashCommands() (cs []*command) {
	cs = append(cs, &command{
		Name:    "policy hash",
		Args:    "FILE",
		Summary: "print the policy hash: SHA-256 of the file's exact bytes",
		Help:    helpText("policy hash"),
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("policy hash takes one FILE, got %d arguments", len(args))
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return withHint(fmt.Errorf("reading the policy: %w", err), "give the path of the policy file")
			}
			h := policy.Hash(data)
			fmt.Fprintln(e.Stdout, hex.EncodeToString(h[:]))
			return nil
		},
	})
	return cs
}
