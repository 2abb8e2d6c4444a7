package main

import (
	"embed"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/truce-project/truce/internal/cli"
	"github.com/truce-project/truce/internal/hint"
)

// Exit codes of every command.
const (
	exitOK      = cli.ExitOK
	exitFailure = cli.ExitFailure
	exitUsage   = cli.ExitUsage
)

// env is what a command may touch of the outside world. Tests replace it.
type env = cli.Env

func newEnv() *env { return cli.NewEnv() }

// command is one subcommand, such as "policy new". Each lives in its own
// file, made by that file's constructor (attestCommands, …), with its help
// text in help/.
type command = cli.Command

// commands are every subcommand of truce.
var commands = newCommands()

// newCommands gathers the commands of every file.
func newCommands() cli.Set {
	s := cli.Set{}
	for _, cs := range [][]*command{
		attestCommands(),
		auditVerifyCommands(),
		checkCommands(),
		clientCommands(),
		demoCommands(),
		doctorCommands(),
		evidenceCommands(),
		exportCommands(),
		hostCommands(),
		identityCommands(),
		loadCommands(),
		measureCommands(),
		pasCommands(),
		pasHostCommands(),
		policyApplyCommands(),
		policyCheckCommands(),
		policyHashCommands(),
		policyImportCommands(),
		policyNewCommands(),
		policyProposeCommands(),
		policySignCommands(),
		receiptCommands(),
		releaseCommands(),
		runCommands(),
		runtimeCommands(),
		versionCommands(),
	} {
		for _, c := range cs {
			s.Add(c)
		}
	}
	return s
}

// run is the whole program (cli.Set.Run).
func run(args []string, e *env) int { return commands.Run(args, e) }

// usageError is a mistake in how a command was called: exit code 2.
type usageError = hint.UsageError

func usagef(format string, a ...any) error { return hint.Usagef(format, a...) }

// hintError carries, besides what went wrong, what the user should do.
type hintError = hint.Error

// withHint attaches a hint ("what to do next") to err. A nil err stays nil.
func withHint(err error, format string, a ...any) error { return hint.With(err, format, a...) }

// exitCodeError ends truce with a given exit code and no message.
type exitCodeError = cli.ExitCodeError

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
func noArgs(args []string) error { return cli.NoArgs(args) }

// readInput reads the file name, or stdin for "-", at most limit+1 bytes
// so that the caller can refuse a larger one; what names it in errors,
// hint says what to give instead of a file that cannot be opened.
func readInput(e *env, name string, limit int64, what, hint string) ([]byte, error) {
	var rd io.Reader = e.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, withHint(fmt.Errorf("reading the %s: %w", what, err), "%s", hint)
		}
		defer f.Close()
		rd = f
	}
	data, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading the %s: %w", what, err)
	}
	return data, nil
}
