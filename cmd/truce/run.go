package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/engine"
	"github.com/truce-project/truce/vfs"
	"github.com/truce-project/truce/wasi"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(s string) error { *r = append(*r, s); return nil }

func init() {
	var (
		dirs, envs     repeated
		memMiB, outMiB int64
		timeout        time.Duration
		engineName     string
	)
	register(&command{
		name:    "run",
		args:    "[flags] PROG.wasm [flags] [-- ARGS...]",
		summary: "run a WebAssembly program (WASI preview 1) with the runtime's engine",
		help: `Runs a WASI preview 1 command program with the very engine and in-memory
file system the runtime uses inside the enclave, so a program can be tried
before it is pinned in a policy.

Each --dir HOST[:GUEST] copies the host directory HOST into the in-memory
file system at GUEST (GUEST defaults to HOST, made absolute inside the
guest) before the run; the program may read and write under GUEST and
nowhere else. After the run, whatever its outcome, the changes are written
back to HOST: new and changed files are written, files and directories
the program removed are removed. Only regular files and directories are
copied; symbolic links and other special files are skipped.

Standard input, output and error pass through. ARGS, after PROG or after
"--", are the program's arguments (the program's name comes first, as
usual). The program sees only the variables given with --env.

Exit status: the program's own exit code. When the engine stops the
program (a trap, the time or memory limit, too much output, Ctrl-C),
truce says why on stderr and exits with 1; an invalid program also
exits with 1 (see "truce check").

Examples:
  truce run prog.wasm -- --input /data/in.csv
  truce run --dir ./data:/data --env MODE=fast --mem-mib 512 prog.wasm
  truce run --engine wazero --timeout 5s prog.wasm`,
		flags: func(fs *flag.FlagSet) {
			fs.Var(&dirs, "dir", "copy host directory `HOST[:GUEST]` in before the run and the changes back after it (repeatable)")
			fs.Var(&envs, "env", "set the program's environment variable `K=V` (repeatable)")
			fs.Int64Var(&memMiB, "mem-mib", engine.DefaultMemoryBytes>>20, "limit on the program's linear memory, in MiB")
			fs.Int64Var(&outMiB, "output-mib", engine.DefaultOutputBytes>>20, "limit on what the program writes to stdout and stderr together, in MiB")
			fs.DurationVar(&timeout, "timeout", engine.DefaultTimeout, "limit on the program's wall time")
			fs.StringVar(&engineName, "engine", "", "WebAssembly engine: "+kindList()+" (default "+string(engine.Default())+")")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if len(args) == 0 {
				return usagef("no program given: truce run PROG.wasm [-- ARGS...]")
			}
			prog := args[0]
			// Flags may also follow the program's name.
			if err := fs.Parse(args[1:]); err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return err
				}
				return &usageError{err.Error()}
			}
			progArgs := fs.Args()
			if memMiB <= 0 || memMiB > engine.MaxMemoryBytes>>20 {
				return usagef("--mem-mib %d is out of range: give 1 to %d", memMiB, engine.MaxMemoryBytes>>20)
			}
			if outMiB <= 0 {
				return usagef("--output-mib %d is out of range: give 1 or more", outMiB)
			}
			if timeout <= 0 {
				return usagef("--timeout %v is out of range: give a positive duration such as 30s", timeout)
			}
			kind, err := engine.ParseKind(engineName)
			if err != nil {
				return withHint(&usageError{err.Error()}, "use one of: %s", kindList())
			}
			for _, kv := range envs {
				if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
					return usagef("--env %q is not K=V", kv)
				}
			}
			mounts, err := parseDirs(dirs)
			if err != nil {
				return err
			}
			wasm, err := os.ReadFile(prog)
			if err != nil {
				return withHint(fmt.Errorf("reading the program: %w", err), "give the path of a .wasm file")
			}

			mem := vfs.New(vfs.Limits{}, nil)
			caps := capability.Set{}
			for _, m := range mounts {
				if err := m.copyIn(mem.Unchecked()); err != nil {
					return err
				}
				caps[strings.TrimSuffix(m.guest, "/")+"/"] = capability.Read | capability.Write
			}
			var view *vfs.View
			if len(mounts) > 0 {
				view = mem.View(caps)
			}

			eng, err := engine.New(engine.Options{Kind: kind, CacheEntries: -1})
			if err != nil {
				return fmt.Errorf("starting engine %s: %w", kind, err)
			}
			defer eng.Close()
			cfg := engine.Config{
				WASI: wasi.Config{
					Args:   append([]string{filepath.Base(prog)}, progArgs...),
					Env:    envs,
					Stdin:  e.stdin,
					Stdout: e.stdout,
					Stderr: e.stderr,
					FS:     view,
				},
				MemoryBytes: memMiB << 20,
				Timeout:     timeout,
				OutputBytes: outMiB << 20,
			}
			res, runErr := eng.Run(e.ctx, engine.Program{Wasm: wasm}, cfg)
			// The changes go back to the host whatever the outcome, as
			// they would have had the program worked on the host.
			for _, m := range mounts {
				if err := m.copyOut(mem.Unchecked()); err != nil {
					return err
				}
			}
			if runErr != nil {
				if errors.Is(runErr, engine.ErrInvalidModule) {
					return withHint(fmt.Errorf("%s: %w", prog, runErr), "run \"truce check %s\" for the details", prog)
				}
				return fmt.Errorf("%s: %w", prog, runErr)
			}
			return runResult(prog, res, memMiB, outMiB)
		},
	})
}

func kindList() string {
	var ks []string
	for _, k := range engine.Kinds() {
		ks = append(ks, string(k))
	}
	return strings.Join(ks, ", ")
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
		return &exitCodeError{int(res.ExitCode)}
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

// mount is one --dir: a host directory and where the program sees it.
type mount struct {
	host, guest string
	// copied maps each guest path copied in to the SHA-256 of its content
	// (directories map to the zero hash), to tell what the program
	// changed.
	copied map[string][32]byte
	dirs   map[string]bool
}

func parseDirs(specs []string) ([]*mount, error) {
	var ms []*mount
	seen := map[string]string{}
	for _, s := range specs {
		host, guest, ok := strings.Cut(s, ":")
		if host == "" {
			return nil, usagef("--dir %q names no host directory: give HOST[:GUEST]", s)
		}
		if !ok {
			g := filepath.ToSlash(filepath.Clean(host))
			if strings.HasPrefix(g, "../") || g == ".." {
				return nil, withHint(usagef("--dir %q lies above the current directory, so it cannot be the guest path too", s),
					"say where the program sees it: --dir %s:/data", host)
			}
			guest = "/" + strings.TrimPrefix(g, "/")
			if g == "." {
				guest = "/"
			}
		}
		if !strings.HasPrefix(guest, "/") {
			guest = "/" + guest
		}
		g, err := vfs.Clean(guest)
		if err != nil {
			return nil, usagef("--dir %q: guest path %q is not usable: %v", s, guest, err)
		}
		for other, o := range seen {
			if g == other || strings.HasPrefix(g, strings.TrimSuffix(other, "/")+"/") || strings.HasPrefix(other, strings.TrimSuffix(g, "/")+"/") {
				return nil, usagef("--dir %q and --dir %q overlap in the guest: give each its own guest path", s, o)
			}
		}
		seen[g] = s
		st, err := os.Stat(host)
		if err != nil {
			return nil, withHint(fmt.Errorf("--dir %s: %w", s, err), "give an existing host directory")
		}
		if !st.IsDir() {
			return nil, withHint(fmt.Errorf("--dir %s: %s is not a directory", s, host), "give a directory, not a file")
		}
		ms = append(ms, &mount{host: host, guest: g, copied: map[string][32]byte{}, dirs: map[string]bool{}})
	}
	return ms, nil
}

// guestPath maps a path relative to the host directory into the guest.
func (m *mount) guestPath(rel string) string {
	if rel == "." {
		return m.guest
	}
	return path.Join(m.guest, filepath.ToSlash(rel))
}

// copyIn copies the host directory into the file system.
func (m *mount) copyIn(v *vfs.View) error {
	if err := v.MkdirAll(m.guest); err != nil {
		return fmt.Errorf("making %s in the guest: %w", m.guest, err)
	}
	return filepath.WalkDir(m.host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copying %s in: %w", m.host, err)
		}
		rel, err := filepath.Rel(m.host, p)
		if err != nil {
			return err
		}
		g := m.guestPath(rel)
		switch {
		case d.IsDir():
			m.dirs[g] = true
			if err := v.MkdirAll(g); err != nil {
				return fmt.Errorf("copying %s in: %w", p, err)
			}
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("copying %s in: %w", p, err)
			}
			if _, err := v.WriteFile(g, bytes.NewReader(b)); err != nil {
				return fmt.Errorf("copying %s in: %w", p, err)
			}
			m.copied[g] = sha256.Sum256(b)
		}
		return nil
	})
}

// copyOut writes the program's changes back to the host directory: new
// and changed files, new directories, and removals of what was copied in.
func (m *mount) copyOut(v *vfs.View) error {
	files, dirs := map[string]bool{}, map[string]bool{}
	var walk func(d string) error
	walk = func(d string) error {
		dirs[d] = true
		ents, err := v.ReadDir(d)
		if err != nil {
			return fmt.Errorf("listing %s in the guest: %w", d, err)
		}
		for _, e := range ents {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			p := path.Join(d, e.Name)
			if e.Dir {
				if err := walk(p); err != nil {
					return err
				}
			} else {
				files[p] = true
			}
		}
		return nil
	}
	if _, err := v.Stat(m.guest); err == nil {
		if err := walk(m.guest); err != nil {
			return err
		}
	}
	hostPath := func(g string) string {
		rel := strings.TrimPrefix(strings.TrimPrefix(g, m.guest), "/")
		return filepath.Join(m.host, filepath.FromSlash(rel))
	}
	// Removals first, deepest first, so that a file may replace a
	// directory of the same name and the other way round.
	var gone []string
	for g := range m.copied {
		if !files[g] {
			gone = append(gone, g)
		}
	}
	for g := range m.dirs {
		if !dirs[g] && g != m.guest {
			gone = append(gone, g)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return len(gone[i]) > len(gone[j]) })
	for _, g := range gone {
		if err := os.Remove(hostPath(g)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("writing back: removing %s: %w", hostPath(g), err)
		}
	}
	var newDirs []string
	for g := range dirs {
		if !m.dirs[g] {
			newDirs = append(newDirs, g)
		}
	}
	sort.Strings(newDirs)
	for _, g := range newDirs {
		if err := os.MkdirAll(hostPath(g), 0o755); err != nil {
			return fmt.Errorf("writing back: %w", err)
		}
	}
	var names []string
	for g := range files {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		s, err := v.Open(g)
		if err != nil {
			return fmt.Errorf("writing back: reading %s in the guest: %w", g, err)
		}
		b, err := io.ReadAll(s)
		if err != nil {
			return fmt.Errorf("writing back: reading %s in the guest: %w", g, err)
		}
		if old, ok := m.copied[g]; ok && old == sha256.Sum256(b) {
			continue
		}
		if err := writeFileAtomic(hostPath(g), b); err != nil {
			return fmt.Errorf("writing back: %w", err)
		}
	}
	return nil
}

// writeFileAtomic replaces a file through a temporary file and a rename,
// so a reader never sees it half-written.
func writeFileAtomic(p string, b []byte) error {
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(p); err == nil {
		mode = st.Mode().Perm()
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".truce-run-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(f.Name(), mode)); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
