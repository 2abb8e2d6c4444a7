package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/truce-project/truce/internal/cli"
	"github.com/truce-project/truce/internal/policyreport"
	"github.com/truce-project/truce/policy"
)

// policyCheckCommands are the commands of policy_check.go.
func policyCheckCommands() (cs []*command) {
	cs = append(cs, &command{
		Name:    "policy check",
		Args:    "FILE [--json] [--at TIME]",
		Summary: "validate a policy and show who may do what",
		Help:    helpText("policy check"),
		Flags: func(fs *flag.FlagSet) {
			fs.Bool("json", false, "print JSON for machines")
			fs.String("at", "", "check as of this RFC 3339 `time` instead of now")
		},
		Run: runPolicyCheck,
	})
	return cs
}

func runPolicyCheck(e *env, fs *flag.FlagSet, args []string) error {
	args, err := cli.Interspersed(fs, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return usagef("policy check takes one FILE, got %d arguments", len(args))
	}
	file := args[0]
	asJSON := fs.Lookup("json").Value.String() == "true"
	now := time.Now()
	if at := fs.Lookup("at").Value.String(); at != "" {
		if now, err = time.Parse(time.RFC3339, at); err != nil {
			return usagef("--at %q is not an RFC 3339 time: write it like 2027-01-01T00:00:00Z", at)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return withHint(fmt.Errorf("reading the policy: %w", err), "give the path of the policy file")
	}
	rep, err := policyreport.New(file, data, now)
	var ve *policy.ValidationError
	if errors.As(err, &ve) {
		if asJSON {
			if err := writeJSON(e.Stdout, rep); err != nil {
				return err
			}
		} else {
			for _, pr := range ve.Problems {
				fmt.Fprintf(e.Stderr, "%s: %s\n", file, pr)
			}
		}
		n := len(ve.Problems)
		plural := "s"
		if n == 1 {
			plural = ""
		}
		return withHint(fmt.Errorf("policy %s is invalid: %d problem%s", file, n, plural),
			"fix each problem at the JSON path named, then check again")
	}
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.Stdout, rep)
	}
	rep.Print(e.Stdout, now)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
