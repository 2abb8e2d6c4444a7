package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/policy"
	"github.com/truce-project/truce/policy/succession"
)

// policyProposeCommands are the commands of policy_propose.go.
func policyProposeCommands() (cs []*command) {
	var out string
	cs = append(cs, &command{
		Name:    "policy propose",
		Args:    "-o PROPOSAL BASE NEXT",
		Summary: "propose NEXT as the successor of policy BASE in a running enclave",
		Help:    helpText("policy propose"),
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "o", "", "proposal `file` to write")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 2 {
				return usagef("policy propose takes BASE and NEXT, got %d arguments", len(args))
			}
			if out == "" {
				return usagef("-o PROPOSAL is required")
			}
			base, err := loadPolicy(args[0])
			if err != nil {
				return err
			}
			next, err := loadPolicy(args[1])
			if err != nil {
				return err
			}
			p, err := succession.Propose(base, next)
			if err != nil {
				return withHint(err, "make %s name %s as its lifecycle.predecessor and keep what a chain keeps fixed (docs/spec/lifecycle.md)", args[1], args[0])
			}
			if err := atomicfile.WriteNew(out, succession.Encode(p), 0o644); err != nil {
				return withHint(err, "give a new file name with -o")
			}
			describeProposal(e.Stdout, base, next, p)
			return nil
		},
	})
	return cs
}

// describeProposal tells what a proposal would change and who approved.
func describeProposal(w io.Writer, base, next *policy.Policy, p *api.PolicyProposal) {
	q := base.Quorum()
	fmt.Fprintf(w, "base      %s (%s, sequence %d)\n", base.HashHex(), base.Name, base.Sequence())
	fmt.Fprintf(w, "successor %s (%s, sequence %d)\n", next.HashHex(), next.Name, next.Sequence())
	carry := "nothing: every file is wiped"
	if lc := next.Lifecycle; lc != nil && len(lc.CarryOver) > 0 {
		carry = strings.Join(lc.CarryOver, " ") + "; every other file is wiped"
	}
	fmt.Fprintf(w, "carries   %s\n", carry)
	var names []string
	for _, a := range p.Approvals {
		names = append(names, a.Signer)
	}
	if len(names) == 0 {
		names = []string{"none yet"}
	}
	fmt.Fprintf(w, "approvals %s (%d of %s needed)\n", strings.Join(names, ", "), q.Threshold, strings.Join(q.Of, ", "))
}
