// Package kit describes the systems examples (sort-numbers, string-search,
// huffman-encoding, image-processing, random-source, file-seek, fd-create,
// prime-numbers) in one shape, so that their tests and the benchmark command
// run each of them the same three ways: natively (the program's Go code built
// for the host, over a directory on disk), under the engine's compiler
// backend, and under its interpreter (both over the runtime's in-memory file
// system, with the program's capabilities from the example's policy).
//
// It is test and benchmark support: it must never be imported by code that
// ships in the truce binary, and it never touches the network.
package kit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/internal/vfs"
	"github.com/truce-project/truce/internal/wasi"
)

// Program is one guest program of an example.
type Program struct {
	// Path is where the example's policy places the program, e.g.
	// "/program/sort-numbers.wasm".
	Path string
	// GoDir is the Go wasip1 package of the program, relative to the
	// example's folder ("program"); empty for a C program.
	GoDir string
	// CSource is the C source file of the program, relative to the
	// example's folder; empty for a Go program.
	CSource string
	// Caps are the program's rights in the example's policy.
	Caps capability.Set
	// Native is the program's Go code run on the host: it reads its inputs
	// below root and writes its outputs below root, as the guest does below
	// "/". Nil for a C program.
	Native func(root string, stdout io.Writer) error
}

// Example is one example: its programs, run in order (several make a
// pipeline), and its deterministic inputs.
type Example struct {
	// Name is the example's folder under examples/.
	Name string
	// Steps are the programs run in order for one result. Variants are
	// other programs computing the same result (e.g. the C version), run
	// on their own.
	Steps, Variants []Program
	// Inputs returns the data owners' files, guest path → bytes, for the
	// normal (test) size or the large (benchmark) size. The same size
	// always gives the same bytes.
	Inputs func(large bool) map[string][]byte
	// Random is true when the outputs differ from run to run by design
	// (random-source): runs are compared by file paths and sizes only.
	Random bool
}

// Limits are the file system quotas of a kit run: generous enough for the
// large inputs.
var Limits = vfs.Limits{FileBytes: 256 << 20, TotalBytes: 1 << 30}

// ErrFailed is returned when a program ran but did not exit with 0.
var ErrFailed = errors.New("program failed")

// Timeout bounds one program's run under an engine: the interpreter on
// the large inputs takes tens of seconds.
const Timeout = 10 * time.Minute

// Run is the outcome of RunEngine.
type Run struct {
	// Files are every file afterwards, guest path → bytes.
	Files map[string][]byte
	// Stdout is the programs' standard output, in order.
	Stdout string
	// Compile and Exec are the engine's times, summed over the programs:
	// compiling (or finding the compiled module in the cache), and
	// instantiating and running.
	Compile, Exec time.Duration
	// Memory is the largest linear memory a program had at its end.
	Memory int64
}

// RunEngine runs the modules in order under eng over a fresh in-memory file
// system holding inputs, each with its capabilities, and returns every file
// afterwards, the programs' standard output and the engine's times.
// rand is the source of WASI random_get; nil means crypto/rand.
func RunEngine(ctx context.Context, eng engine.Engine, wasm [][]byte, caps []capability.Set, inputs map[string][]byte, rand io.Reader) (*Run, error) {
	if len(wasm) != len(caps) {
		return nil, fmt.Errorf("kit: %d modules but %d capability sets", len(wasm), len(caps))
	}
	fs := vfs.New(Limits, nil)
	admin := fs.Unchecked()
	if err := writeInputs(admin, inputs); err != nil {
		return nil, err
	}
	var stdout bytes.Buffer
	run := &Run{}
	for i, w := range wasm {
		if err := makeDirs(admin, caps[i]); err != nil {
			return nil, err
		}
		var stderr bytes.Buffer
		res, err := eng.Run(ctx, engine.Program{Wasm: w}, engine.Config{
			WASI: wasi.Config{
				Args:   []string{fmt.Sprintf("step%d.wasm", i)},
				Stdout: &stdout, Stderr: &stderr,
				FS:   fs.View(caps[i]),
				Rand: rand,
			},
			MemoryBytes: 1 << 30,
			Timeout:     Timeout,
		})
		if err != nil {
			return nil, fmt.Errorf("running step %d: %w", i, err)
		}
		if !res.OK() {
			return nil, fmt.Errorf("step %d: %w: %s (exit %d) %s; stderr: %s", i, ErrFailed, res.Outcome, res.ExitCode, res.Message, stderr.String())
		}
		run.Compile += res.Compile
		run.Exec += res.Exec
		run.Memory = max(run.Memory, res.MemoryBytes)
	}
	files, err := ReadAll(admin)
	if err != nil {
		return nil, err
	}
	run.Files, run.Stdout = files, stdout.String()
	return run, nil
}

// writeInputs writes each input, making its directories.
func writeInputs(admin *vfs.View, inputs map[string][]byte) error {
	for p, b := range inputs {
		if err := admin.MkdirAll(path.Dir(p)); err != nil {
			return fmt.Errorf("kit: making the directory of %s: %w", p, err)
		}
		if _, err := admin.WriteFile(p, bytes.NewReader(b)); err != nil {
			return fmt.Errorf("kit: writing %s: %w", p, err)
		}
	}
	return nil
}

// makeDirs makes the directories a program's grants name, as the runtime
// does before a run.
func makeDirs(admin *vfs.View, caps capability.Set) error {
	for g := range caps {
		d := strings.TrimSuffix(g, "/")
		if !strings.HasSuffix(g, "/") {
			d = path.Dir(g)
		}
		if d == "" || d == "/" {
			continue
		}
		if err := admin.MkdirAll(d); err != nil {
			return fmt.Errorf("kit: making %s: %w", d, err)
		}
	}
	return nil
}

// ReadAll returns every regular file of the file system.
func ReadAll(admin *vfs.View) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, info := range admin.FS().Files() {
		if info.Dir {
			continue
		}
		s, err := admin.Open(info.Path)
		if err != nil {
			return nil, fmt.Errorf("kit: opening %s: %w", info.Path, err)
		}
		b, err := io.ReadAll(s)
		if err != nil {
			return nil, fmt.Errorf("kit: reading %s: %w", info.Path, err)
		}
		out[info.Path] = b
	}
	return out, nil
}

// Stage writes inputs below the host directory root, so that a native run
// finds them where the guest does.
func Stage(root string, inputs map[string][]byte) error {
	for p, b := range inputs {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// PrepareNative makes the directories the programs' grants name below root.
func PrepareNative(root string, progs []Program) error {
	for _, p := range progs {
		for g := range p.Caps {
			d := strings.TrimSuffix(g, "/")
			if !strings.HasSuffix(g, "/") {
				d = path.Dir(g)
			}
			if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(d)), 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

// RunNative stages inputs in a fresh directory below dir, runs the steps'
// Native functions in order there and returns every file afterwards (guest
// path → bytes), their standard output, and the time the steps took
// (staging and reading back excluded).
func RunNative(dir string, steps []Program, inputs map[string][]byte) (map[string][]byte, string, time.Duration, error) {
	root, err := os.MkdirTemp(dir, "native-")
	if err != nil {
		return nil, "", 0, err
	}
	defer os.RemoveAll(root)
	if err := Stage(root, inputs); err != nil {
		return nil, "", 0, err
	}
	if err := PrepareNative(root, steps); err != nil {
		return nil, "", 0, err
	}
	var stdout bytes.Buffer
	start := time.Now()
	for i, s := range steps {
		if s.Native == nil {
			return nil, "", 0, fmt.Errorf("kit: step %d (%s) has no native code", i, s.Path)
		}
		if err := s.Native(root, &stdout); err != nil {
			return nil, stdout.String(), 0, fmt.Errorf("native step %d (%s): %w", i, s.Path, err)
		}
	}
	took := time.Since(start)
	out, err := ReadTree(root)
	return out, stdout.String(), took, err
}

// ReadTree returns every regular file below the host directory root, by
// its guest path ("/" is root) → bytes.
func ReadTree(root string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out["/"+filepath.ToSlash(rel)] = b
		return nil
	})
	return out, err
}

// Join returns p below root on the host ("/" for the guest).
func Join(root, p string) string {
	return filepath.Join(root, filepath.FromSlash(p))
}

// Paths returns the sorted keys of files.
func Paths(files map[string][]byte) []string {
	out := make([]string, 0, len(files))
	for p := range files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
