package main

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"truce": func() { os.Exit(run(os.Args[1:], newEnv())) },
	})
}

// TestScripts runs the CLI scripts in testdata/script: each is a txtar
// archive of commands and the files they use, tried as a new user would.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Values["ctx"] = context.Background()
			return nil
		},
	})
}
