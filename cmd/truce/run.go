package main

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/localrun"
	"github.com/truce-project/truce/internal/native"
	"github.com/truce-project/truce/policy"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

// runCommands are the commands of run.go.
func runCommands() (cs []*command) {
	var (
		dirs, envs     repeated
		natives        repeated
		memMiB, outMiB int64
		fileMiB        int64
		totalMiB       int64
		timeout        time.Duration
		engineName     string
		stats, noCache bool
	)
	cs = append(cs, &command{
		Name:    "run",
		Args:    "[flags] PROG.wasm [flags] [-- ARGS...]",
		Summary: "run a WebAssembly program (WASI preview 1) with the runtime's engine",
		Help:    helpText("run"),
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&dirs, "dir", "copy host directory `HOST[:GUEST]` in before the run and the changes back after it (repeatable)")
			fs.Var(&envs, "env", "set the program's environment variable `K=V` (repeatable)")
			fs.Var(&natives, "native", "grant the program the native `MODULE` ("+strings.Join(native.Names(), ", ")+"; repeatable)")
			fs.Int64Var(&memMiB, "mem-mib", engine.DefaultMemoryBytes>>20, "limit on the program's linear memory, in MiB")
			fs.Int64Var(&fileMiB, "file-mib", policy.DefaultFileMiB, "limit on each file of the in-memory file system, in MiB (as a policy's file_mib)")
			fs.Int64Var(&totalMiB, "total-mib", policy.DefaultTotalMiB, "limit on all files of the in-memory file system together, copied-in ones included, in MiB (as a policy's total_mib)")
			fs.Int64Var(&outMiB, "output-mib", engine.DefaultOutputBytes>>20, "limit on what the program writes to stdout and stderr together, in MiB")
			fs.DurationVar(&timeout, "timeout", engine.DefaultTimeout, "limit on the program's wall time")
			fs.BoolVar(&noCache, "no-cache", false, "compile the program afresh, without the on-disk cache of compiled programs")
			fs.BoolVar(&stats, "stats", false, "print the engine, compile and run times and the memory used to stderr after the run")
			fs.StringVar(&engineName, "engine", "", "WebAssembly engine: "+engine.KindList()+" (default "+string(engine.Default())+")")
		},
		Run: func(e *env, fs *flag.FlagSet, args []string) error {
			if len(args) == 0 {
				return usagef("no program given: truce run PROG.wasm [-- ARGS...]")
			}
			prog := args[0]
			// Flags may also follow the program's name.
			if err := fs.Parse(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return err
				}
				return &usageError{Msg: err.Error()}
			}
			return localrun.Main(e.Ctx, localrun.MainConfig{
				Prog: prog, Args: fs.Args(), Dirs: dirs, Env: envs, Natives: natives,
				MemMiB: memMiB, FileMiB: fileMiB, TotalMiB: totalMiB, OutMiB: outMiB, Timeout: timeout,
				Engine: engineName, Stats: stats, CacheDir: compiledCacheDir(noCache),
				Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr,
			})
		},
	})
	return cs
}

// compiledCacheDir is where truce run keeps compiled programs: under the
// user's cache directory, or nowhere if that cannot be made (or with
// --no-cache), which only costs compile time.
func compiledCacheDir(off bool) string {
	if off {
		return ""
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	d = filepath.Join(d, "truce", "compiled")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return ""
	}
	return d
}
