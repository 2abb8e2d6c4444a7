package main

import (
	"flag"
	"fmt"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/internal/clientconf"
	"github.com/truce-project/truce/internal/textreport"
	"github.com/truce-project/truce/policy"
)

// clientFlags are the flags every command that talks to an enclave takes.
type clientFlags struct{ clientconf.Config }

// clientFlagsHelp ends the help of every command that talks to an enclave.
var clientFlagsHelp = helpFile("client-flags")

func (c *clientFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&c.Policy, "policy", "", "policy `file` ($TRUCE_POLICY)")
	fs.StringVar(&c.Cert, "identity", "", "your certificate `file` ($TRUCE_IDENTITY)")
	fs.StringVar(&c.Key, "key", "", "your private key `file` ($TRUCE_KEY)")
	fs.StringVar(&c.Addr, "addr", "", "host `address` to dial (default: the policy's host)")
	fs.StringVar(&c.Known, "known-enclaves", "", "known-enclaves record `file` (\"off\": none; default $"+client.KnownEnclavesEnv+" or ~/.config/truce/known_enclaves)")
	fs.BoolVar(&c.RefuseNew, "refuse-new-enclave", false, "stop before sending any data if the enclave is another instance than last time for this policy")
}

// conf is the flags as a clientconf.Config, reading e's environment and
// warning on e's stderr.
func (c *clientFlags) conf(e *env) *clientconf.Config {
	c.Getenv, c.Warn = e.Getenv, e.Stderr
	return &c.Config
}

// check fills the flags from the environment and reports a missing one.
func (c *clientFlags) check(e *env) error { return c.conf(e).Complete() }

// dial loads the policy and identity and opens a verified session.
func (c *clientFlags) dial(e *env) (*client.Session, *policy.Policy, error) {
	return clientconf.Dial(e.Ctx, c.conf(e))
}

// clientError attaches what to do to an error from the client SDK.
func clientError(err error) error { return clientconf.Advise(err) }

func uploadCommand(name, verb string, appendMode bool) *command {
	var cf clientFlags
	return &command{
		Name:    name,
		Args:    "[flags] LOCALFILE|- GUESTPATH",
		Summary: verb + " a file in the enclave",
		Help:    fmt.Sprintf(helpFile("upload"), verb, map[bool]string{false: "w", true: "a"}[appendMode], clientFlagsHelp, name),
		Flags:   cf.declare,
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 2 {
				return usagef("give LOCALFILE (or -) and GUESTPATH")
			}
			return clientconf.Upload(e.Ctx, cf.conf(e), streams(e), args[0], args[1], appendMode)
		},
	}
}

// clientCommands are the commands of client_cmds.go.
func clientCommands() (cs []*command) {
	cs = append(cs, uploadCommand("put", "write", false))
	cs = append(cs, uploadCommand("append", "append", true))

	var getFlags clientFlags
	cs = append(cs, &command{
		Name:    "get",
		Args:    "[flags] GUESTPATH [LOCALFILE|-]",
		Summary: "read a file from the enclave",
		Help:    helpText("get"),
		Flags:   getFlags.declare,
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("give GUESTPATH and optionally LOCALFILE")
			}
			dest := "-"
			if len(args) == 2 {
				dest = args[1]
			}
			return clientconf.Download(e.Ctx, getFlags.conf(e), streams(e), args[0], dest)
		},
	})

	var execFlags clientFlags
	var execReceipt string
	var execJSON bool
	cs = append(cs, &command{
		Name:    "exec",
		Args:    "[flags] GUESTPATH",
		Summary: "run a program in the enclave",
		Help:    helpText("exec"),
		Flags: func(fs *flag.FlagSet) {
			execFlags.declare(fs)
			fs.StringVar(&execReceipt, "receipt", "", "save the run's receipt to `file`")
			fs.BoolVar(&execJSON, "json", false, "print the whole run result as JSON")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("give the program's GUESTPATH")
			}
			s, _, err := execFlags.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			rr, err := s.Run(e.Ctx, args[0])
			if rr != nil {
				if werr := showRun(e, rr, execReceipt, execJSON); werr != nil {
					return werr
				}
			}
			return clientError(err)
		},
	})

	var pipeFlags clientFlags
	var pipeReceipt string
	var pipeJSON bool
	cs = append(cs, &command{
		Name:    "pipeline",
		Args:    "[flags] NAME",
		Summary: "run a pipeline of programs in the enclave",
		Help:    helpText("pipeline"),
		Flags: func(fs *flag.FlagSet) {
			pipeFlags.declare(fs)
			fs.StringVar(&pipeReceipt, "receipt", "", "save the pipeline's receipt to `file`")
			fs.BoolVar(&pipeJSON, "json", false, "print the whole pipeline result as JSON")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("give the pipeline's NAME")
			}
			s, _, err := pipeFlags.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			pr, err := s.RunPipeline(e.Ctx, args[0])
			if err != nil {
				return clientError(err)
			}
			if pipeJSON {
				clientconf.WriteJSON(e.Stdout, pr)
			} else {
				for i, st := range pr.Steps {
					fmt.Fprintf(e.Stdout, "step %d %s: %s, exit code %d\n", i+1, st.Program, st.Outcome, st.ExitCode)
				}
			}
			return clientconf.SaveReceipt(e.Stderr, pipeReceipt, &pr.Receipt)
		},
	})

	var auditFlags clientFlags
	var auditJSON bool
	cs = append(cs, &command{
		Name:    "audit",
		Args:    "[flags]",
		Summary: "print and check the enclave's audit log",
		Help:    helpText("audit"),
		Flags: func(fs *flag.FlagSet) {
			auditFlags.declare(fs)
			fs.BoolVar(&auditJSON, "json", false, "print the log as JSON")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			s, _, err := auditFlags.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			l, checked, err := clientconf.CheckedAudit(e.Ctx, s)
			if err != nil {
				return err
			}
			if auditJSON {
				return clientconf.WriteJSON(e.Stdout, l)
			}
			textreport.AuditLog(e.Stdout, l, checked)
			return nil
		},
	})

	var shutFlags clientFlags
	cs = append(cs, &command{
		Name:    "shutdown",
		Args:    "[flags]",
		Summary: "ask the enclave to wipe its state and stop",
		Help:    helpText("shutdown"),
		Flags:   shutFlags.declare,
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			s, _, err := shutFlags.dial(e)
			if err != nil {
				return err
			}
			if err := s.Shutdown(e.Ctx); err != nil {
				return clientError(err)
			}
			fmt.Fprintln(e.Stdout, "the enclave is shutting down; its state is wiped")
			return nil
		},
	})
	return cs
}

// streams are e's stdin, stdout and stderr for a clientconf step.
func streams(e *env) clientconf.Streams {
	return clientconf.Streams{In: e.Stdin, Out: e.Stdout, Errors: e.Stderr}
}

// showRun prints a run's result and saves its receipt.
func showRun(e *env, rr *api.RunResult, receiptFile string, asJSON bool) error {
	if asJSON {
		clientconf.WriteJSON(e.Stdout, rr)
	} else {
		textreport.Run(e.Stdout, e.Stderr, rr)
	}
	return clientconf.SaveReceipt(e.Stderr, receiptFile, &rr.Receipt)
}
