package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/truce-project/truce/internal/hint"
)

func testSet() Set {
	s := Set{}
	var n int
	s.Add(&Command{Name: "group one", Summary: "the first", Help: "Does one thing.",
		Flags: func(fs *flag.FlagSet) { fs.IntVar(&n, "n", 0, "a `number`") },
		Run: func(e *Env, _ *flag.FlagSet, args []string) error {
			switch {
			case n == 7:
				return &ExitCodeError{Code: 7}
			case n == 1:
				return hint.With(errors.New("it broke"), "fix it")
			}
			return NoArgs(args)
		}})
	return s
}

func runSet(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	e := &Env{Ctx: context.Background(), Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	return testSet().Run(args, e), out.String(), errb.String()
}

func TestRun(t *testing.T) {
	for _, tt := range []struct {
		args         []string
		code         int
		out, errText string
	}{
		{[]string{"group", "one"}, ExitOK, "", ""},
		{[]string{"group", "one", "-n", "7"}, 7, "", ""},
		{[]string{"group", "one", "-n", "1"}, ExitFailure, "", "truce: it broke\nhint: fix it\n"},
		{[]string{"group", "one", "extra"}, ExitUsage, "", "truce: unexpected argument \"extra\"\nhint: run \"truce help\""},
		{[]string{"group", "one", "-x"}, ExitUsage, "", "truce: flag provided but not defined: -x"},
		{[]string{"group"}, ExitUsage, "", "truce: \"group\" needs a subcommand\nhint: use one of: group one"},
		{[]string{"nothing"}, ExitUsage, "", "truce: unknown command \"nothing\""},
		{[]string{"help"}, ExitOK, "  group one                the first", ""},
		{[]string{"help", "group", "one"}, ExitOK, "Usage: truce group one \n\nthe first\n\nDoes one thing.\n\nFlags:\n  -n number", ""},
		{[]string{"group", "one", "--help"}, ExitOK, "Does one thing.", ""},
	} {
		code, out, errText := runSet(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.out) || !strings.HasPrefix(errText, tt.errText) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tt.args, code, out, errText, tt.code, tt.out, tt.errText)
		}
	}
}

func TestAddTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("adding a command twice did not panic")
		}
	}()
	s := testSet()
	s.Add(&Command{Name: "group one"})
}

// TestInterspersed parses flags given after positional arguments.
func TestInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "", "")
	pos, err := Interspersed(fs, []string{"alice", "--dir", "keys", "bob"})
	if err != nil || len(pos) != 2 || pos[0] != "alice" || pos[1] != "bob" || *dir != "keys" {
		t.Fatalf("Interspersed = %q, %v, dir %q", pos, err, *dir)
	}
	var ue *hint.UsageError
	if _, err := Interspersed(fs, []string{"alice", "--nope"}); !errors.As(err, &ue) {
		t.Fatalf("unknown flag: %v, want a usage error", err)
	}
}
