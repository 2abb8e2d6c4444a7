package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/policyspec"
	"github.com/truce-project/truce/policy"
)

// policyFlags are the repeatable flags of "policy new".
type policyFlags struct {
	runtimes, principals, programs, pipelines, minimumTCB, revoked stringList
	budgets, holds, carry                                          stringList
}

// policyNewCommands are the commands of policy_new.go.
func policyNewCommands() (cs []*command) {
	pf := &policyFlags{}
	cs = append(cs, &command{
		Name:    "policy new",
		Args:    "-o FILE [flags]",
		Summary: "write a policy from flags, validated",
		Help:    helpText("policy new"),
		Flags: func(fs *flag.FlagSet) {
			fs.String("o", "", "policy `file` to write (- for standard output)")
			fs.String("name", "", "`name` of the computation (default: FILE without its extension)")
			fs.String("expires", "", "expiry as an RFC 3339 `time`, e.g. 2027-01-01T00:00:00Z")
			fs.Duration("valid-for", 720*time.Hour, "expiry as a `duration` from now, when --expires is not given")
			fs.String("host", "127.0.0.1:3017", "`host:port` where clients dial the enclave")
			fs.String("pas-url", "https://127.0.0.1:3010", "`URL` of the attestation service")
			fs.String("pas-ca", "", "`file` with the attestation service's CA certificate (truce pas init writes DIR/ca.crt)")
			fs.Var(&pf.runtimes, "runtime", "trusted enclave `PLATFORM[=MEASUREMENT[,PIN=HEX…]]` (repeatable)")
			fs.Var(&pf.principals, "principal", "party `NAME=CERTFILE:CAPS` (repeatable)")
			fs.Var(&pf.programs, "program", "program `GUESTPATH=WASMFILE[:CAPS]` (repeatable)")
			fs.Var(&pf.pipelines, "pipeline", "pipeline `NAME=PATH,PATH…` (repeatable)")
			fs.Var(&pf.budgets, "budget", "data-use budget `NAME=PATH:once|max_runs=N[,not_after=TIME]` (repeatable)")
			fs.Var(&pf.holds, "hold", "held results `PATH=NAME,NAME…` (repeatable)")
			fs.String("quorum", "", "who may approve a successor: `K:NAME,NAME…`")
			fs.String("successor-of", "", "policy `file` this one succeeds")
			fs.Var(&pf.carry, "carry", "with --successor-of, a `PATH` whose files the change keeps (repeatable)")
			fs.Var(&pf.minimumTCB, "minimum-tcb", "lowest TCB accepted, `PLATFORM:COMPONENT=N[,COMPONENT=N…]` (repeatable)")
			fs.Var(&pf.revoked, "revoke", "runtime build never accepted, `PLATFORM=MEASUREMENT[:REASON]` (repeatable)")
			fs.Bool("single-instance", false, "allow one enclave instance only (attestation.single_instance): the attestation service refuses a second enclave key")
			fs.Int("memory-mib", 0, "most memory a program may use, in `MiB` (default 256)")
			fs.Int("exec-seconds", 0, "longest a run may take, in `seconds` (default 60)")
			fs.Int("file-mib", 0, "largest a file may grow, in `MiB` (default 1024)")
			fs.Int("total-mib", 0, "most the enclave's file system may hold, in `MiB` (default 4096)")
		},
		Run: func(e *env, fs *flag.FlagSet, args []string) error {
			defer func() { *pf = policyFlags{} }()
			return runPolicyNew(e, fs, args, pf)
		},
	})
	return cs
}

func intFlag(fs *flag.FlagSet, name string) int {
	return fs.Lookup(name).Value.(flag.Getter).Get().(int)
}

func runPolicyNew(e *env, fs *flag.FlagSet, args []string, pf *policyFlags) error {
	if err := noArgs(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	out := fs.Lookup("o").Value.String()
	if out == "" {
		return usagef("give the policy file to write with -o FILE")
	}
	spec := policyspec.Spec{
		Name: fs.Lookup("name").Value.String(), Host: fs.Lookup("host").Value.String(),
		Service: fs.Lookup("pas-url").Value.String(), CAFile: fs.Lookup("pas-ca").Value.String(),
		Expires: fs.Lookup("expires").Value.String(), ValidFor: fs.Lookup("valid-for").Value.(flag.Getter).Get().(time.Duration),
		Carry: pf.carry, Runtimes: pf.runtimes, Principals: pf.principals, Programs: pf.programs, Pipelines: pf.pipelines,
		MinimumTCB: pf.minimumTCB, Revoked: pf.revoked, Budgets: pf.budgets, Holds: pf.holds,
		Quorum: fs.Lookup("quorum").Value.String(), SingleInstance: fs.Lookup("single-instance").Value.(flag.Getter).Get().(bool),
		Limits: policy.Limits{MemoryMiB: intFlag(fs, "memory-mib"), ExecSeconds: intFlag(fs, "exec-seconds"),
			FileMiB: intFlag(fs, "file-mib"), TotalMiB: intFlag(fs, "total-mib")},
		Given: set,
	}
	if spec.Name == "" {
		spec.Name = strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
		if out == "-" {
			spec.Name = "truce"
		}
	}
	if f := fs.Lookup("successor-of").Value.String(); f != "" {
		var err error
		if spec.Base, err = loadPolicy(f); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	p, err := policyspec.Build(spec, now)
	if err != nil {
		return err
	}
	data, err := policy.Encode(p)
	if err != nil {
		return fmt.Errorf("writing the policy: %w", err)
	}
	parsed, err := policy.Parse(data, now)
	if err != nil {
		return withHint(err, "principals[N] and programs[N] count the --principal and --program flags from 0, in the order given; fix the flags and run again")
	}
	if out == "-" {
		_, err := e.Stdout.Write(data)
		return err
	}
	if err := atomicfile.WriteNew(out, data, 0o644); err != nil {
		if errors.Is(err, os.ErrExist) {
			return withHint(fmt.Errorf("%s exists: not overwriting it", out), "pick another -o, or remove %s first", out)
		}
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s\npolicy hash: %s\nexpires: %s\n", out, parsed.HashHex(), parsed.Expires.UTC().Format(time.RFC3339))
	return nil
}
