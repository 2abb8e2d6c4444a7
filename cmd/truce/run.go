package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/hostdir"
	"github.com/truce-project/truce/internal/localrun"
	"github.com/truce-project/truce/internal/native"
	trt "github.com/truce-project/truce/internal/runtime"
	"github.com/truce-project/truce/internal/vfs"
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
			fs.StringVar(&engineName, "engine", "", "WebAssembly engine: "+trt.EngineKinds()+" (default "+string(engine.Default())+")")
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
			progArgs := fs.Args()
			if memMiB <= 0 || memMiB > engine.MaxMemoryBytes>>20 {
				return usagef("--mem-mib %d is out of range: give 1 to %d", memMiB, engine.MaxMemoryBytes>>20)
			}
			if fileMiB <= 0 || totalMiB <= 0 || fileMiB > vfs.MaxFileBytes>>20 {
				return usagef("--file-mib %d / --total-mib %d is out of range: give 1 to %d per file and 1 or more in total", fileMiB, totalMiB, vfs.MaxFileBytes>>20)
			}
			if outMiB <= 0 {
				return usagef("--output-mib %d is out of range: give 1 or more", outMiB)
			}
			if timeout <= 0 {
				return usagef("--timeout %v is out of range: give a positive duration such as 30s", timeout)
			}
			kind, err := engine.ParseKind(engineName)
			if err != nil {
				return withHint(&usageError{Msg: err.Error()}, "use one of: %s", trt.EngineKinds())
			}
			for _, kv := range envs {
				if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
					return usagef("--env %q is not K=V", kv)
				}
			}
			if err := abi.CheckNativeNames(natives); err != nil {
				return withHint(&usageError{Msg: "--native: " + err.Error()}, "give each module once; the runtime has %s", strings.Join(native.Names(), ", "))
			}
			mounts, err := hostdir.Parse(dirs)
			switch {
			case errors.Is(err, hostdir.ErrBadSpec):
				return withHint(&usageError{Msg: err.Error()}, "give each directory as --dir HOST[:GUEST], such as --dir ./data:/data")
			case err != nil:
				return withHint(err, "give an existing host directory as --dir HOST[:GUEST]")
			}
			wasm, err := os.ReadFile(prog)
			if err != nil {
				return withHint(fmt.Errorf("reading the program: %w", err), "give the path of a .wasm file")
			}

			// The file system has the limits a policy gives, so that a
			// program cannot grow it until the host runs out of memory.
			res, err := localrun.Run(e.Ctx, localrun.Options{
				Wasm: wasm, Name: prog, Args: progArgs, Env: envs, Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr,
				Mounts: mounts, FileBytes: fileMiB << 20, TotalBytes: totalMiB << 20, MemoryBytes: memMiB << 20,
				OutputBytes: outMiB << 20, Timeout: timeout, Kind: kind, CacheDir: compiledCacheDir(noCache), Native: natives,
				Skipped: func(s string) { fmt.Fprintln(e.Stderr, "truce run: --dir:", s) },
			})
			switch {
			case errors.Is(err, vfs.ErrQuota):
				return withHint(err, "allow more with --file-mib (now %d) or --total-mib (now %d)", fileMiB, totalMiB)
			case errors.Is(err, engine.ErrNotGranted):
				return withHint(err, "if you trust the program with it, add --native for each module it needs (\"truce check %s\" lists them)", prog)
			case errors.Is(err, engine.ErrInvalidModule):
				return withHint(err, "run \"truce check %s\" for the details", prog)
			case err != nil:
				return err
			}
			if stats {
				how := "compiled"
				if res.CacheHit {
					how = "from the cache"
				}
				fmt.Fprintf(e.Stderr, "stats: engine %s, compile %v (%s), run %v, memory %.1f MiB, outcome %v\n",
					kind, res.Compile.Round(time.Microsecond), how, res.Exec.Round(time.Microsecond), float64(res.MemoryBytes)/(1<<20), res.Outcome)
			}
			return runResult(prog, res, memMiB, outMiB)
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

// runResult turns how the run ended into truce's exit.
func runResult(prog string, res *engine.Result, memMiB, outMiB int64) error {
	switch res.Outcome {
	case engine.Exited:
		if res.ExitCode == 0 {
			return nil
		}
		if res.ExitCode > 255 {
			return withHint(fmt.Errorf("%s exited with code %d, which does not fit an exit status", prog, res.ExitCode), "exit codes above 255 cannot be passed on")
		}
		return &exitCodeError{Code: int(res.ExitCode)}
	case engine.Trapped:
		return withHint(fmt.Errorf("%s trapped: %s", prog, res.Message), "the program crashed: this is a bug in the program, or it was built for another target (build for wasip1 / wasm32-wasi)")
	case engine.TimedOut:
		return withHint(fmt.Errorf("%s timed out: %s", prog, res.Message), "give it more time with --timeout, or look for an endless loop")
	case engine.MemoryExceeded:
		return withHint(fmt.Errorf("%s: %s", prog, res.Message), "allow more with --mem-mib (now %d)", memMiB)
	case engine.OutputExceeded:
		return withHint(fmt.Errorf("%s: %s", prog, res.Message), "allow more with --output-mib (now %d), or write large results to a file under a --dir", outMiB)
	case engine.Cancelled:
		return fmt.Errorf("%s: %s", prog, res.Message)
	}
	return fmt.Errorf("%s: %v: %s", prog, res.Outcome, res.Message)
}
