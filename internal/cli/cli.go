// Package cli is the frame of the truce command: its subcommands (Command,
// gathered in a Set), what they may touch of the outside world (Env), the
// help ("truce help", "--help"), and the mapping of outcomes to exit codes
// and to the "truce: …" and "hint: …" lines of an error.
//
// It knows no subcommand: cmd/truce defines them. It must never import
// another Truce package but internal/hint, and it writes only to the
// Env it is given.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/truce-project/truce/internal/hint"
)

// Exit codes of every command.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2 // a usage error (*hint.UsageError)
)

// Env is what a command may touch of the outside world. Tests replace it.
type Env struct {
	Ctx    context.Context
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// NewEnv is the process's environment; its context ends on SIGINT or
// SIGTERM.
func NewEnv() *Env {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return &Env{Ctx: ctx, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// Command is one subcommand, such as "policy new".
type Command struct {
	Name    string // words after "truce", e.g. "policy new"
	Args    string // synopsis of the arguments, e.g. "[flags] FILE"
	Summary string // one line for "truce help"
	Help    string // the rest of the help text: what it does, examples
	// Flags declares the command's flags on fs; it may be nil.
	Flags func(fs *flag.FlagSet)
	// Run does the work with the positional arguments left after flags.
	Run func(e *Env, fs *flag.FlagSet, args []string) error
}

// Set holds the commands by name.
type Set map[string]*Command

// Add adds c to s; a name added twice is a programming mistake, and
// panics.
func (s Set) Add(c *Command) {
	if _, dup := s[c.Name]; dup {
		panic("truce: command registered twice: " + c.Name)
	}
	s[c.Name] = c
}

// ExitCodeError ends truce with Code and no message, as when "truce run"
// passes on a program's exit code.
type ExitCodeError struct{ Code int }

func (e *ExitCodeError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// NoArgs is for commands that take no positional arguments.
func NoArgs(args []string) error {
	if len(args) > 0 {
		return hint.Usagef("unexpected argument %q", args[0])
	}
	return nil
}

// Run is the whole program: it finds the command of args in s, parses its
// flags, runs it and maps the outcome to an exit code, writing the error
// ("truce: …") and its hint ("hint: …") to e.Stderr. Nothing else
// writes "truce:" lines.
func (s Set) Run(args []string, e *Env) int {
	err := s.dispatch(args, e)
	if err == nil {
		return ExitOK
	}
	var ec *ExitCodeError
	if errors.As(err, &ec) {
		return ec.Code
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(e.Stderr, "truce: %v\n", err)
	var he *hint.Error
	if errors.As(err, &he) && he.Hint != "" {
		fmt.Fprintf(e.Stderr, "hint: %s\n", he.Hint)
	}
	var ue *hint.UsageError
	if errors.As(err, &ue) {
		if !errors.As(err, &he) {
			fmt.Fprintf(e.Stderr, "hint: run \"truce help\" for the list of commands, or add --help to a command\n")
		}
		return ExitUsage
	}
	return ExitFailure
}

func (s Set) dispatch(args []string, e *Env) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, rest := s.find(args[1:]); c != nil && len(rest) == 0 {
				printHelp(e.Stdout, c)
				return nil
			}
			return hint.Usagef("no command %q", strings.Join(args[1:], " "))
		}
		s.printIndex(e.Stdout)
		return nil
	}
	c, rest := s.find(args)
	if c == nil {
		if group := s.groupOf(args[0]); group != nil {
			return hint.With(hint.Usagef("%q needs a subcommand", args[0]),
				"use one of: %s", strings.Join(group, ", "))
		}
		return hint.Usagef("unknown command %q", args[0])
	}
	fs := flag.NewFlagSet("truce "+c.Name, flag.ContinueOnError)
	// The flag package's own messages are silenced: help goes to stdout
	// once, below, and a parse error is returned for main to print.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if c.Flags != nil {
		c.Flags(fs)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(e.Stdout, c)
			return flag.ErrHelp
		}
		return &hint.UsageError{Msg: err.Error()}
	}
	return c.Run(e, fs, fs.Args())
}

// find returns the longest command name that prefixes args, and the
// remaining arguments.
func (s Set) find(args []string) (*Command, []string) {
	for n := len(args); n > 0; n-- {
		if c, ok := s[strings.Join(args[:n], " ")]; ok {
			return c, args[n:]
		}
	}
	return nil, nil
}

// groupOf lists the subcommands of a group word such as "policy".
func (s Set) groupOf(word string) []string {
	var subs []string
	for name := range s {
		if strings.HasPrefix(name, word+" ") {
			subs = append(subs, name)
		}
	}
	sort.Strings(subs)
	return subs
}

func (s Set) printIndex(w io.Writer) {
	fmt.Fprintf(w, "Truce computes on data that its owners will not show each other.\n\nUsage: truce COMMAND [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-24s %s\n", n, s[n].Summary)
	}
	fmt.Fprintf(w, "\nRun \"truce help COMMAND\" or \"truce COMMAND --help\" for details.\n")
}

func printHelp(w io.Writer, c *Command) {
	fmt.Fprintf(w, "Usage: truce %s %s\n\n%s\n", c.Name, c.Args, c.Summary)
	if c.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.Help))
	}
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	if c.Flags != nil {
		c.Flags(fs)
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// Interspersed lets flags follow positional arguments, as in
// "truce identity new alice --dir keys": it parses flags found after each
// positional argument and returns the positional arguments.
func Interspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		pos = append(pos, args[0])
		if err := fs.Parse(args[1:]); err != nil {
			return nil, &hint.UsageError{Msg: err.Error()}
		}
		args = fs.Args()
	}
	return pos, nil
}
