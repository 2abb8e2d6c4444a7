package main

import (
	"context"
	"embed"
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
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// env is what a command may touch of the outside world. Tests replace it.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

func newEnv() *env {
	ctx, _ := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return &env{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
}

// command is one subcommand, such as "policy new". Each lives in its own
// file with its help text and registers itself with register.
type command struct {
	name    string // words after "truce", e.g. "policy new"
	args    string // synopsis of the arguments, e.g. "[flags] FILE"
	summary string // one line for "truce help"
	help    string // the rest of the help text: what it does, examples
	// flags declares the command's flags on fs; it may be nil.
	flags func(fs *flag.FlagSet)
	// run does the work with the positional arguments left after flags.
	run func(e *env, fs *flag.FlagSet, args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("truce: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError is a mistake in how a command was called: exit code 2.
type usageError = hint.UsageError

func usagef(format string, a ...any) error { return hint.Usagef(format, a...) }

// hintError carries, besides what went wrong, what the user should do.
type hintError = hint.Error

// withHint attaches a hint ("what to do next") to err. A nil err stays nil.
func withHint(err error, format string, a ...any) error { return hint.With(err, format, a...) }

// exitCodeError ends truce with a given exit code and no message, as when
// "truce run" passes on a program's exit code.
type exitCodeError struct{ code int }

func (e *exitCodeError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// run is the whole program: it finds the command, parses its flags, runs it
// and maps the outcome to an exit code. Nothing else writes "truce:" lines.
func run(args []string, e *env) int {
	err := dispatch(args, e)
	if err == nil {
		return exitOK
	}
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(e.stderr, "truce: %v\n", err)
	var he *hintError
	if errors.As(err, &he) && he.Hint != "" {
		fmt.Fprintf(e.stderr, "hint: %s\n", he.Hint)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if !errors.As(err, &he) {
			fmt.Fprintf(e.stderr, "hint: run \"truce help\" for the list of commands, or add --help to a command\n")
		}
		return exitUsage
	}
	return exitFailure
}

func dispatch(args []string, e *env) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, rest := find(args[1:]); c != nil && len(rest) == 0 {
				printHelp(e.stdout, c)
				return nil
			}
			return usagef("no command %q", strings.Join(args[1:], " "))
		}
		printIndex(e.stdout)
		return nil
	}
	c, rest := find(args)
	if c == nil {
		if group := groupOf(args[0]); group != nil {
			return withHint(usagef("%q needs a subcommand", args[0]),
				"use one of: %s", strings.Join(group, ", "))
		}
		return usagef("unknown command %q", args[0])
	}
	fs := flag.NewFlagSet("truce "+c.name, flag.ContinueOnError)
	// The flag package's own messages are silenced: help goes to stdout
	// once, below, and a parse error is returned for main to print.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if c.flags != nil {
		c.flags(fs)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(e.stdout, c)
			return flag.ErrHelp
		}
		return &usageError{Msg: err.Error()}
	}
	return c.run(e, fs, fs.Args())
}

// find returns the longest command name that prefixes args, and the
// remaining arguments.
func find(args []string) (*command, []string) {
	for n := len(args); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, args[n:]
		}
	}
	return nil, nil
}

// groupOf lists the subcommands of a group word such as "policy".
func groupOf(word string) []string {
	var subs []string
	for name := range commands {
		if strings.HasPrefix(name, word+" ") {
			subs = append(subs, name)
		}
	}
	sort.Strings(subs)
	return subs
}

func printIndex(w io.Writer) {
	fmt.Fprintf(w, "Truce computes on data that its owners will not show each other.\n\nUsage: truce COMMAND [flags] [args]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-24s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun \"truce help COMMAND\" or \"truce COMMAND --help\" for details.\n")
}

func printHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: truce %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// helpFiles hold the help texts of the commands, one file a command:
// help/NAME.txt, NAME the command's words joined by dashes.
//
//go:embed help
var helpFiles embed.FS

// helpFile is the text of help/NAME.txt; a missing file is a mistake in
// the build, caught by every test that prints help.
func helpFile(name string) string {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic("truce: no help text: " + err.Error())
	}
	return string(b)
}

// helpText is the help of the command name (such as "policy new"), in
// which {{client flags}} stands for the help of the client flags.
func helpText(name string) string {
	return strings.ReplaceAll(helpFile(strings.ReplaceAll(name, " ", "-")), "{{client flags}}", clientFlagsHelp)
}

// noArgs is for commands that take no positional arguments.
func noArgs(args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}
