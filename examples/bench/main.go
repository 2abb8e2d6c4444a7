// Command bench measures the systems examples three ways and writes the
// table into docs/benchmarks.md:
//
//	go run ./examples/bench [-runs 5] [-interp-runs 3] [-out docs/benchmarks.md] [-only sort-numbers,…]
//
// For every example it builds the guest programs (Go for wasip1, and the C
// versions when clang-14 is installed), generates the example's large
// inputs, and runs the computation natively (the same Go code built for
// the host, over a temporary directory), under the engine's compiler
// backends (wasmtime, wazero) and under its interpreter (wazero-interp),
// over the runtime's in-memory file system with the policy's capabilities.
// Every run's outputs are compared with the native run's, so a wrong
// answer fails the command instead of timing it. Times are medians; the
// engine's times are instantiation and run with the compiled module cached
// (compilation is reported on its own). The table is written between
// marker comments, so other sections of the file are kept.
//
// It is a measuring tool: it must never be run by the tests, and never
// write anywhere but its output file and temporary directories.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/engine"
	fdcreate "github.com/truce-project/truce/examples/fd-create"
	fileseek "github.com/truce-project/truce/examples/file-seek"
	huffman "github.com/truce-project/truce/examples/huffman-encoding"
	imageproc "github.com/truce-project/truce/examples/image-processing"
	primes "github.com/truce-project/truce/examples/prime-numbers"
	randomsource "github.com/truce-project/truce/examples/random-source"
	sortnumbers "github.com/truce-project/truce/examples/sort-numbers"
	stringsearch "github.com/truce-project/truce/examples/string-search"

	"github.com/truce-project/truce/examples/bench/kit"
)

// Markers delimit the section this command owns in the output file.
const (
	beginMarker = "<!-- examples-bench:begin (written by go run ./examples/bench) -->"
	endMarker   = "<!-- examples-bench:end -->"
)

func examples() []kit.Example {
	return []kit.Example{
		sortnumbers.Example(), stringsearch.Example(), huffman.Example(), imageproc.Example(),
		primes.Example(), fileseek.Example(), fdcreate.Example(), randomsource.Example(),
	}
}

// row is one line of the table.
type row struct {
	name, lang string
	inputBytes int
	native     time.Duration
	engines    map[engine.Kind]time.Duration
	compile    map[engine.Kind]time.Duration
}

func main() {
	runs := flag.Int("runs", 5, "runs of each measurement (the median is kept)")
	interpRuns := flag.Int("interp-runs", 3, "runs under the interpreter")
	out := flag.String("out", "docs/benchmarks.md", "file to write the table into (its examples section)")
	only := flag.String("only", "", "comma-separated examples to measure (default all)")
	flag.Parse()
	if *runs < 1 || *interpRuns < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs and -interp-runs must be at least 1")
		os.Exit(2)
	}
	if err := run(*runs, *interpRuns, *out, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository")
		}
		dir = parent
	}
}

func run(runs, interpRuns int, out, only string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	kinds := []engine.Kind{engine.Wasmtime, engine.Wazero, engine.WazeroInterp}
	engines := map[engine.Kind]engine.Engine{}
	for _, k := range kinds {
		if !slices.Contains(engine.Kinds(), k) {
			return fmt.Errorf("engine backend %s is not in this build (build with cgo for wasmtime)", k)
		}
		e, err := engine.New(engine.Options{Kind: k})
		if err != nil {
			return err
		}
		defer e.Close()
		engines[k] = e
	}
	tmp, err := os.MkdirTemp("", "truce-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var rows []row
	var notes []string
	for _, ex := range examples() {
		if only != "" && !slices.Contains(strings.Split(only, ","), ex.Name) {
			continue
		}
		dir := filepath.Join(root, "examples", ex.Name)
		inputs := ex.Inputs(true)
		size := 0
		for _, b := range inputs {
			size += len(b)
		}
		fmt.Fprintf(os.Stderr, "%s: %d input bytes\n", ex.Name, size)
		native, nativeFiles, err := measureNative(tmp, ex, inputs, runs)
		if err != nil {
			return fmt.Errorf("%s natively: %w", ex.Name, err)
		}
		chains := [][]kit.Program{ex.Steps}
		for _, v := range ex.Variants {
			chains = append(chains, []kit.Program{v})
		}
		for _, chain := range chains {
			lang := "Go"
			if chain[0].CSource != "" {
				lang = "C"
			}
			r := row{name: ex.Name, lang: lang, inputBytes: size, native: native,
				engines: map[engine.Kind]time.Duration{}, compile: map[engine.Kind]time.Duration{}}
			var wasm [][]byte
			var caps []capability.Set
			for _, p := range chain {
				var b []byte
				if p.GoDir != "" {
					b, err = kit.BuildGo(filepath.Join(dir, p.GoDir))
				} else {
					b, err = kit.BuildC(filepath.Join(dir, p.CSource))
				}
				if err != nil {
					break
				}
				wasm = append(wasm, b)
				caps = append(caps, p.Caps)
			}
			if errors.Is(err, kit.ErrNoClang) {
				notes = append(notes, fmt.Sprintf("%s (C) not measured: %v", ex.Name, err))
				continue
			}
			if err != nil {
				return err
			}
			for _, k := range kinds {
				n := runs
				if k == engine.WazeroInterp {
					n = interpRuns
				}
				exec, compile, err := measureEngine(engines[k], ex, wasm, caps, inputs, nativeFiles, n)
				if err != nil {
					return fmt.Errorf("%s (%s) under %s: %w", ex.Name, lang, k, err)
				}
				r.engines[k], r.compile[k] = exec, compile
				fmt.Fprintf(os.Stderr, "  %s %s: %v (native %v)\n", lang, k, exec, native)
			}
			rows = append(rows, r)
		}
	}
	return write(out, table(rows, kinds, runs, interpRuns, notes))
}

func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// measureNative runs the example's native code n times and returns the
// median time and the first run's files.
func measureNative(tmp string, ex kit.Example, inputs map[string][]byte, n int) (time.Duration, map[string][]byte, error) {
	var times []time.Duration
	var first map[string][]byte
	for i := range n {
		files, _, took, err := kit.RunNative(tmp, ex.Steps, inputs)
		if err != nil {
			return 0, nil, err
		}
		if i == 0 {
			first = files
		}
		times = append(times, took)
	}
	return median(times), first, nil
}

// measureEngine runs the modules n times (after one run that compiles
// them, whose compile time is returned) and returns the median exec time.
// Every run's files must match the native run's.
func measureEngine(eng engine.Engine, ex kit.Example, wasm [][]byte, caps []capability.Set, inputs, want map[string][]byte, n int) (exec, compile time.Duration, err error) {
	var times []time.Duration
	for i := range n + 1 {
		r, err := kit.RunEngine(context.Background(), eng, wasm, caps, inputs, nil)
		if err != nil {
			return 0, 0, err
		}
		if err := same(ex, want, r.Files); err != nil {
			return 0, 0, err
		}
		if i == 0 {
			compile = r.Compile
			continue
		}
		times = append(times, r.Exec)
	}
	return median(times), compile, nil
}

// same compares a run's files with the native run's: bytes, or paths and
// sizes for a random example.
func same(ex kit.Example, want, got map[string][]byte) error {
	if !slices.Equal(kit.Paths(want), kit.Paths(got)) {
		return fmt.Errorf("files %v, natively %v", kit.Paths(got), kit.Paths(want))
	}
	for p, w := range want {
		if ex.Random && len(got[p]) == len(w) {
			continue
		}
		if !bytes.Equal(got[p], w) {
			return fmt.Errorf("%s differs from the native run's (%d bytes, natively %d)", p, len(got[p]), len(w))
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func ratio(d, base time.Duration) string {
	if base <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f×", float64(d)/float64(base))
}

func table(rows []row, kinds []engine.Kind, runs, interpRuns int, notes []string) string {
	var b strings.Builder
	fmt.Fprintln(&b, beginMarker)
	fmt.Fprintln(&b, "## Examples: native Go, compiler, interpreter")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Measured %s on %s/%s, %d CPUs, %s, by `go run ./examples/bench` with each example's `-large` inputs. ",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), goruntime.GOOS, goruntime.GOARCH, goruntime.NumCPU(), goruntime.Version())
	fmt.Fprintf(&b, "Medians of %d runs (%d under the interpreter). Native is the program's Go code built for the host over a temporary directory; "+
		"the engine columns are instantiation and run with the compiled module cached, over the in-memory file system with the policy's capabilities; "+
		"compilation (first run) is listed on its own. Ratios are slow-downs against native Go measured in the same run. "+
		"Every run's outputs were compared with the native run's (random-source: paths and sizes). "+
		"C rows are the C version of the program against the same native Go baseline.\n\n", runs, interpRuns)
	fmt.Fprint(&b, "| example | program | input | native Go |")
	for _, k := range kinds {
		fmt.Fprintf(&b, " %s | ×native |", label(k))
	}
	fmt.Fprintln(&b, " compile wasmtime | compile wazero |")
	fmt.Fprint(&b, "|---|---|---:|---:|")
	for range kinds {
		fmt.Fprint(&b, "---:|---:|")
	}
	fmt.Fprintln(&b, "---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |", r.name, r.lang, size(r.inputBytes), ms(r.native))
		for _, k := range kinds {
			fmt.Fprintf(&b, " %s | %s |", ms(r.engines[k]), ratio(r.engines[k], r.native))
		}
		fmt.Fprintf(&b, " %s | %s |\n", ms(r.compile[engine.Wasmtime]), ms(r.compile[engine.Wazero]))
	}
	for _, n := range notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	fmt.Fprintln(&b, endMarker)
	return b.String()
}

func label(k engine.Kind) string {
	switch k {
	case engine.Wasmtime:
		return "compiler (wasmtime)"
	case engine.Wazero:
		return "compiler (wazero)"
	case engine.WazeroInterp:
		return "interpreter (wazero)"
	}
	return string(k)
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// write puts section into the file between the markers, replacing an
// earlier section, or at the end.
func write(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	doc := string(old)
	if doc == "" {
		doc = "# Benchmarks\n\nFigures measured on this project's machines; each section says how it was measured and by which command.\n\n"
	}
	if i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker); i >= 0 && j > i {
		doc = doc[:i] + section + doc[j+len(endMarker)+1:]
	} else {
		if !strings.HasSuffix(doc, "\n\n") {
			doc += "\n"
		}
		doc += section
	}
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", path)
	return nil
}
