package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// policyApplyCommands are the commands of policy_apply.go.
func policyApplyCommands() (cs []*command) {
	var cf clientFlags
	cs = append(cs, &command{
		Name:    "policy apply",
		Args:    "[flags] PROPOSAL",
		Summary: "send an approved successor policy to the running enclave",
		Help:    helpText("policy apply"),
		Flags:   cf.declare,
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("policy apply takes one PROPOSAL, got %d arguments", len(args))
			}
			if _, _, _, err := loadProposal(args[0]); err != nil {
				return err
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			s, _, err := cf.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			ch, err := s.ApplySuccessor(e.Ctx, b)
			if err != nil {
				return clientError(err)
			}
			fmt.Fprintf(e.Stdout, "policy %s is now in force (sequence %d)\n", ch.Current, ch.Sequence)
			fmt.Fprintf(e.Stdout, "files carried over: %d, wiped: %d\n", ch.Carried, ch.Wiped)
			fmt.Fprintf(e.Stdout, "chain: %s\n", strings.Join(ch.Chain, " → "))
			return nil
		},
	})
	return cs
}
