package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
)

// policySignCommands are the commands of policy_sign.go.
func policySignCommands() (cs []*command) {
	var cert, key string
	cs = append(cs, &command{
		Name:    "policy sign",
		Args:    "--identity CERT --key KEY PROPOSAL",
		Summary: "approve a proposed successor policy, adding your signature to PROPOSAL",
		Help:    helpText("policy sign"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&cert, "identity", "", "your certificate `file` ($TRUCE_IDENTITY)")
			fs.StringVar(&key, "key", "", "your private key `file` ($TRUCE_KEY)")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("policy sign takes one PROPOSAL, got %d arguments", len(args))
			}
			if cert == "" {
				cert = e.Getenv("TRUCE_IDENTITY")
			}
			if key == "" {
				key = e.Getenv("TRUCE_KEY")
			}
			if cert == "" || key == "" {
				return usagef("--identity and --key are required (or set $TRUCE_IDENTITY and $TRUCE_KEY)")
			}
			p, base, next, err := loadProposal(args[0])
			if err != nil {
				return err
			}
			id, err := identity.Load(cert, key)
			if err != nil {
				return withHint(fmt.Errorf("loading your identity: %w", err), "give your certificate with --identity and its key with --key")
			}
			if err := succession.Sign(p, base, next, id); err != nil {
				return withHint(err, "only the principals of the base policy's lifecycle.quorum approve its successor")
			}
			if err := atomicfile.Write(args[0], succession.Encode(p), 0o644); err != nil {
				return err
			}
			describeProposal(e.Stdout, base, next, p)
			return nil
		},
	})
	return cs
}

// loadProposal reads a proposal file and parses both of its policies.
func loadProposal(file string) (*api.PolicyProposal, *policy.Policy, *policy.Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, nil, withHint(fmt.Errorf("reading the proposal: %w", err), "give the file truce policy propose wrote")
	}
	p, err := succession.ParseProposal(b)
	if err != nil {
		return nil, nil, nil, withHint(fmt.Errorf("%s: %w", file, err), "give the file truce policy propose wrote")
	}
	base, err := policy.Parse(p.Base, time.Now())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: the base policy: %w", file, err)
	}
	next, err := policy.Parse(p.Policy, time.Now())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: the successor policy: %w", file, err)
	}
	return p, base, next, nil
}
