package main

import (
	"crypto/ecdsa"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/truce-project/truce/api"
	"github.com/truce-project/truce/audit"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/internal/atomicfile"
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

// progress wraps r or w with a progress bar on stderr when stderr is a
// terminal; size -1 means unknown.
func progress(e *env, size int64, what string) *progressbar.ProgressBar {
	f, ok := e.Stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions64(size, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100e6))
}

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
			if err := cf.check(e); err != nil {
				return err
			}
			var in io.Reader = e.Stdin
			size := int64(-1)
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return withHint(fmt.Errorf("reading %s: %w", args[0], err), "give an existing file, or - for stdin")
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				in = f
			}
			s, _, err := cf.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			if bar := progress(e, size, "uploading"); bar != nil {
				r := progressbar.NewReader(in, bar)
				in = &r
				defer bar.Finish()
			}
			var fi *client.FileInfo
			if appendMode {
				fi, err = s.Append(e.Ctx, args[1], in)
			} else {
				fi, err = s.Put(e.Ctx, args[1], in)
			}
			if err != nil {
				return clientError(err)
			}
			if fi.SHA256 != "" {
				fmt.Fprintf(e.Stdout, "%s %s: %d bytes, sha256 %s\n", map[bool]string{false: "wrote", true: "appended to"}[appendMode], fi.Path, fi.Size, fi.SHA256)
			} else {
				fmt.Fprintf(e.Stdout, "appended %d bytes to %s (you may not read it: neither its size nor a hash of the whole is shown)\n", fi.Size, fi.Path)
			}
			if fi.Salt != "" {
				// The file's version is named by commitment in the audit
				// log and receipts; only its writer and readers get the salt.
				fmt.Fprintf(e.Stdout, "commitment %s, salt %s\n", fi.Commitment, fi.Salt)
				fmt.Fprintf(e.Stdout, "keep the salt to check a receipt names these bytes: truce receipt verify --input %s=%s:LOCALFILE …\n", fi.Path, fi.Salt)
			}
			return nil
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
			s, _, err := getFlags.dial(e)
			if err != nil {
				return err
			}
			defer s.Close()
			if dest == "-" {
				_, err := s.Get(e.Ctx, args[0], e.Stdout)
				return clientError(err)
			}
			var fi *client.FileInfo
			var getErr error
			err = atomicfile.WriteFrom(dest, 0o600, func(w io.Writer) error {
				if bar := progress(e, -1, "downloading"); bar != nil {
					w = io.MultiWriter(w, bar)
					defer bar.Finish()
				}
				fi, getErr = s.Get(e.Ctx, args[0], w)
				return getErr
			})
			if getErr != nil {
				return clientError(getErr)
			}
			if err != nil {
				return withHint(err, "choose a writable place for LOCALFILE")
			}
			fmt.Fprintf(e.Stderr, "read %s: %d bytes, sha256 %s → %s\n", fi.Path, fi.Size, fi.SHA256, dest)
			if fi.Salt != "" {
				fmt.Fprintf(e.Stderr, "commitment %s, salt %s (check a receipt: truce receipt verify --output %s=%s:%s …)\n", fi.Commitment, fi.Salt, fi.Path, fi.Salt, dest)
			}
			return nil
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
				enc := json.NewEncoder(e.Stdout)
				enc.SetIndent("", "  ")
				enc.Encode(pr)
			} else {
				for i, st := range pr.Steps {
					fmt.Fprintf(e.Stdout, "step %d %s: %s, exit code %d\n", i+1, st.Program, st.Outcome, st.ExitCode)
				}
			}
			return saveReceipt(e, pipeReceipt, &pr.Receipt)
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
			l, err := s.Audit(e.Ctx)
			if err != nil {
				return clientError(err)
			}
			var pub *ecdsa.PublicKey
			if _, chain := s.Enclave(); len(chain) > 0 {
				pub, _ = chain[0].PublicKey.(*ecdsa.PublicKey)
			}
			checked, err := audit.VerifyServed(l.Entries, l.Head, l.Checkpoint, pub)
			if err != nil {
				return withHint(fmt.Errorf("the audit log does not check: %w", err), "do not trust this enclave's log")
			}
			if auditJSON {
				enc := json.NewEncoder(e.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(l)
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

// showRun prints a run's result and saves its receipt.
func showRun(e *env, rr *api.RunResult, receiptFile string, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rr)
	} else {
		textreport.Run(e.Stdout, e.Stderr, rr)
	}
	return saveReceipt(e, receiptFile, &rr.Receipt)
}

// saveReceipt writes a receipt to file as JSON.
func saveReceipt(e *env, file string, v any) error {
	if file == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the receipt: %w", err)
	}
	if err := atomicfile.Write(file, append(b, '\n'), 0o644); err != nil {
		return withHint(fmt.Errorf("saving the receipt: %w", err), "choose a writable --receipt file")
	}
	fmt.Fprintf(e.Stderr, "receipt saved to %s (check it with: truce receipt verify --policy POLICY %s)\n", file, file)
	return nil
}
