package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/native"
)

// checkCommands are the commands of check.go.
func checkCommands() (cs []*command) {
	var asJSON bool
	cs = append(cs, &command{
		Name:    "check",
		Args:    "[--json] PROG.wasm",
		Summary: "check that the runtime can run a WebAssembly program",
		Help:    helpText("check"),
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		Run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) != 1 {
				return usagef("give exactly one program: truce check PROG.wasm")
			}
			prog := args[0]
			wasm, err := os.ReadFile(prog)
			if err != nil {
				return withHint(fmt.Errorf("reading the program: %w", err), "give the path of a .wasm file")
			}
			rep, cerr := engine.Check(wasm)
			if cerr != nil && !errors.Is(cerr, engine.ErrInvalidModule) {
				return cerr
			}
			if asJSON {
				out := struct {
					File     string `json:"file"`
					Bytes    int    `json:"bytes"`
					Valid    bool   `json:"valid"`
					Error    string `json:"error,omitempty"`
					Runnable bool   `json:"runnable"`
					*engine.Report
				}{File: prog, Bytes: len(wasm), Valid: cerr == nil, Report: rep}
				if cerr != nil {
					out.Error = cerr.Error()
				} else {
					out.Runnable = rep.Runnable()
				}
				b, err := json.MarshalIndent(out, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(e.Stdout, "%s\n", b)
				if cerr != nil || !rep.Runnable() {
					return &exitCodeError{Code: exitFailure}
				}
				return nil
			}
			if cerr != nil {
				return withHint(fmt.Errorf("%s: %w", prog, cerr), "build the program for wasip1 (GOOS=wasip1 GOARCH=wasm) or wasm32-wasi")
			}
			rep.WriteText(e.Stdout, prog, len(wasm))
			switch {
			case len(rep.Unsupported) > 0:
				return withHint(fmt.Errorf("%s imports %d thing(s) the runtime does not provide", prog, len(rep.Unsupported)),
					"build for WASI preview 1 only (GOOS=wasip1, or clang --target=wasm32-wasi) and avoid host imports other than the native modules (%s), each with its declared type", strings.Join(native.Names(), ", "))
			case !rep.ExportsStart:
				return withHint(fmt.Errorf("%s exports no _start function", prog), "build the program as a WASI command (with a main function), not a library")
			}
			fmt.Fprintf(e.Stdout, "the runtime can run %s\n", prog)
			return nil
		},
	})
	return cs
}
