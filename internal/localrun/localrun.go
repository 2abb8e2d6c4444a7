// Package localrun runs a WebAssembly program (WASI preview 1) on this
// machine with the runtime's engine and sandbox, as "truce run" does:
// host directories are copied into an in-memory file system bounded as a
// policy bounds the enclave's, the program runs, and the changes are
// copied back whatever the outcome.
//
// It runs no enclave and checks no policy: it is for developing programs.
// Main is "truce run" past its flags: it checks the limits, reads the
// program and turns how it ended into the command's exit.
// It must never be imported by the runtime or the host, and it touches no
// host file but the program it is given, the cache directory it is given
// and those under the directories it is given.
package localrun

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/hostdir"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/internal/wasi"
)

// Options say what to run and within which limits.
type Options struct {
	// Wasm is the program; Name names it as its argument 0 (the base name
	// of its path), Args are the further arguments and Env the K=V
	// environment.
	Wasm []byte
	Name string
	Args []string
	Env  []string
	// Stdin, Stdout and Stderr are the program's; nil means none.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Mounts are host directories the program sees (hostdir.Parse).
	Mounts []*hostdir.Mount
	// FileBytes and TotalBytes bound each file and the whole file system;
	// MemoryBytes, Timeout and OutputBytes bound the run (engine.Config).
	FileBytes, TotalBytes, MemoryBytes, OutputBytes int64
	Timeout                                         time.Duration
	// Kind is the engine; CacheDir, if set, keeps compiled programs.
	Kind     engine.Kind
	CacheDir string
	// Native names the native modules the program may import.
	Native []string
	// Skipped, if set, is told of each host file a mount could not copy
	// in (such as a symbolic link).
	Skipped func(string)
}

// Run runs o.Wasm and returns how it ended. Errors wrap vfs.ErrQuota when
// the mounts do not fit the limits, and, after o.Name, the engine's errors
// (such as engine.ErrNotGranted, engine.ErrInvalidModule) when it cannot
// run.
func Run(ctx context.Context, o Options) (*engine.Result, error) {
	mem := vfs.New(vfs.Limits{FileBytes: o.FileBytes, TotalBytes: o.TotalBytes}, nil)
	for _, m := range o.Mounts {
		err := m.CopyIn(mem.Unchecked())
		if o.Skipped != nil {
			for _, s := range m.Skipped {
				o.Skipped(s)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	var view *vfs.View
	if len(o.Mounts) > 0 {
		view = mem.View(hostdir.Caps(o.Mounts))
	}
	eng, err := engine.New(engine.Options{Kind: o.Kind, CacheEntries: -1, CacheDir: o.CacheDir})
	if err != nil {
		return nil, fmt.Errorf("starting engine %s: %w", o.Kind, err)
	}
	defer eng.Close()
	cfg := engine.Config{
		WASI: wasi.Config{
			Args: append([]string{filepath.Base(o.Name)}, o.Args...), Env: o.Env,
			Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, FS: view,
		},
		MemoryBytes: o.MemoryBytes,
		Timeout:     o.Timeout,
		OutputBytes: o.OutputBytes,
		Native:      o.Native,
	}
	res, runErr := eng.Run(ctx, engine.Program{Wasm: o.Wasm}, cfg)
	// The changes go back to the host whatever the outcome, as they would
	// have had the program worked on the host.
	var outErr error
	for _, m := range o.Mounts {
		if err := m.CopyOut(mem.Unchecked()); err != nil {
			outErr = err
			break
		}
	}
	if outErr != nil {
		return nil, outErr
	}
	if runErr != nil {
		return nil, fmt.Errorf("%s: %w", o.Name, runErr)
	}
	return res, nil
}
