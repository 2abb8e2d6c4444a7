package localrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/truce-project/truce/internal/abi"
	"github.com/truce-project/truce/internal/cli"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/hostdir"
	"github.com/truce-project/truce/internal/native"
	"github.com/truce-project/truce/internal/vfs"
)

// MainConfig is what "truce run" is called with, limits in MiB as its
// flags give them. Limits are taken as given: zero or out of range ones
// are refused with a usage error (the command's flags supply the
// defaults), so the zero value is refused. A zero Engine is the default
// engine, a zero CacheDir caches nothing, nil writers discard.
type MainConfig struct {
	Prog     string   // the .wasm file
	Args     []string // the program's arguments
	Dirs     []string // host directories, HOST[:GUEST] (hostdir.Parse)
	Env      []string // the program's environment, K=V
	Natives  []string // native modules granted
	MemMiB   int64    // linear memory limit
	FileMiB  int64    // per-file limit of the in-memory file system
	TotalMiB int64    // limit of all its files together
	OutMiB   int64    // stdout and stderr together
	Timeout  time.Duration
	Engine   string // the engine's kind (engine.ParseKind)
	Stats    bool   // print times and memory to Stderr after the run
	CacheDir string // compiled programs' cache

	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Main checks cfg, reads and runs the program, and turns how it ended
// into an error: nil for exit code 0, a *cli.ExitCodeError for another
// exit code, an error with a hint (package internal/hint) otherwise.
func Main(ctx context.Context, cfg MainConfig) error {
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.MemMiB <= 0 || cfg.MemMiB > engine.MaxMemoryBytes>>20 {
		return hint.Usagef("--mem-mib %d is out of range: give 1 to %d", cfg.MemMiB, engine.MaxMemoryBytes>>20)
	}
	if cfg.FileMiB <= 0 || cfg.TotalMiB <= 0 || cfg.FileMiB > vfs.MaxFileBytes>>20 {
		return hint.Usagef("--file-mib %d / --total-mib %d is out of range: give 1 to %d per file and 1 or more in total", cfg.FileMiB, cfg.TotalMiB, vfs.MaxFileBytes>>20)
	}
	if cfg.OutMiB <= 0 {
		return hint.Usagef("--output-mib %d is out of range: give 1 or more", cfg.OutMiB)
	}
	if cfg.Timeout <= 0 {
		return hint.Usagef("--timeout %v is out of range: give a positive duration such as 30s", cfg.Timeout)
	}
	kind, err := engine.ParseKind(cfg.Engine)
	if err != nil {
		return hint.With(&hint.UsageError{Msg: err.Error()}, "use one of: %s", engine.KindList())
	}
	for _, kv := range cfg.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return hint.Usagef("--env %q is not K=V", kv)
		}
	}
	if err := abi.CheckNativeNames(cfg.Natives); err != nil {
		return hint.With(&hint.UsageError{Msg: "--native: " + err.Error()}, "give each module once; the runtime has %s", strings.Join(native.Names(), ", "))
	}
	mounts, err := hostdir.Parse(cfg.Dirs)
	switch {
	case errors.Is(err, hostdir.ErrBadSpec):
		return hint.With(&hint.UsageError{Msg: err.Error()}, "give each directory as --dir HOST[:GUEST], such as --dir ./data:/data")
	case err != nil:
		return hint.With(err, "give an existing host directory as --dir HOST[:GUEST]")
	}
	prog := cfg.Prog
	wasm, err := os.ReadFile(prog)
	if err != nil {
		return hint.With(fmt.Errorf("reading the program: %w", err), "give the path of a .wasm file")
	}

	// The file system has the limits a policy gives, so that a
	// program cannot grow it until the host runs out of memory.
	res, err := Run(ctx, Options{
		Wasm: wasm, Name: prog, Args: cfg.Args, Env: cfg.Env, Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr,
		Mounts: mounts, FileBytes: cfg.FileMiB << 20, TotalBytes: cfg.TotalMiB << 20, MemoryBytes: cfg.MemMiB << 20,
		OutputBytes: cfg.OutMiB << 20, Timeout: cfg.Timeout, Kind: kind, CacheDir: cfg.CacheDir, Native: cfg.Natives,
		Skipped: func(s string) { fmt.Fprintln(cfg.Stderr, "truce run: --dir:", s) },
	})
	switch {
	case errors.Is(err, vfs.ErrQuota):
		return hint.With(err, "allow more with --file-mib (now %d) or --total-mib (now %d)", cfg.FileMiB, cfg.TotalMiB)
	case errors.Is(err, engine.ErrNotGranted):
		return hint.With(err, "if you trust the program with it, add --native for each module it needs (\"truce check %s\" lists them)", prog)
	case errors.Is(err, engine.ErrInvalidModule):
		return hint.With(err, "run \"truce check %s\" for the details", prog)
	case err != nil:
		return err
	}
	if cfg.Stats {
		how := "compiled"
		if res.CacheHit {
			how = "from the cache"
		}
		fmt.Fprintf(cfg.Stderr, "stats: engine %s, compile %v (%s), run %v, memory %.1f MiB, outcome %v\n",
			kind, res.Compile.Round(time.Microsecond), how, res.Exec.Round(time.Microsecond), float64(res.MemoryBytes)/(1<<20), res.Outcome)
	}
	return outcome(prog, res, cfg.MemMiB, cfg.OutMiB)
}

// outcome turns how the run ended into truce's exit.
func outcome(prog string, res *engine.Result, memMiB, outMiB int64) error {
	switch res.Outcome {
	case engine.Exited:
		if res.ExitCode == 0 {
			return nil
		}
		if res.ExitCode > 255 {
			return hint.With(fmt.Errorf("%s exited with code %d, which does not fit an exit status", prog, res.ExitCode), "exit codes above 255 cannot be passed on")
		}
		return &cli.ExitCodeError{Code: int(res.ExitCode)}
	case engine.Trapped:
		return hint.With(fmt.Errorf("%s trapped: %s", prog, res.Message), "the program crashed: this is a bug in the program, or it was built for another target (build for wasip1 / wasm32-wasi)")
	case engine.TimedOut:
		return hint.With(fmt.Errorf("%s timed out: %s", prog, res.Message), "give it more time with --timeout, or look for an endless loop")
	case engine.MemoryExceeded:
		return hint.With(fmt.Errorf("%s: %s", prog, res.Message), "allow more with --mem-mib (now %d)", memMiB)
	case engine.OutputExceeded:
		return hint.With(fmt.Errorf("%s: %s", prog, res.Message), "allow more with --output-mib (now %d), or write large results to a file under a --dir", outMiB)
	case engine.Cancelled:
		return fmt.Errorf("%s: %s", prog, res.Message)
	}
	return fmt.Errorf("%s: %v: %s", prog, res.Outcome, res.Message)
}
