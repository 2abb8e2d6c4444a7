package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/examples/bench/kit"
	fdcreate "github.com/truce-project/truce/examples/fd-create"
	fileseek "github.com/truce-project/truce/examples/file-seek"
	huffman "github.com/truce-project/truce/examples/huffman-encoding"
	imageproc "github.com/truce-project/truce/examples/image-processing"
	intersectionsetsum "github.com/truce-project/truce/examples/intersection-set-sum"
	linearregression "github.com/truce-project/truce/examples/linear-regression"
	logreg "github.com/truce-project/truce/examples/logistic-regression"
	macd "github.com/truce-project/truce/examples/moving-average-convergence-divergence"
	numberstream "github.com/truce-project/truce/examples/number-stream-accumulation"
	primes "github.com/truce-project/truce/examples/prime-numbers"
	psi "github.com/truce-project/truce/examples/private-set-intersection"
	psisum "github.com/truce-project/truce/examples/private-set-intersection-sum"
	randomsource "github.com/truce-project/truce/examples/random-source"
	sortnumbers "github.com/truce-project/truce/examples/sort-numbers"
	editdistance "github.com/truce-project/truce/examples/string-edit-distance"
	stringsearch "github.com/truce-project/truce/examples/string-search"
	"github.com/truce-project/truce/internal/engine"
)

// allExamples are every example with a native reference, in the order of
// the table.
func allExamples() []kit.Example {
	return []kit.Example{
		linearregression.Example(), logreg.Example(), psi.Example(), psisum.Example(),
		intersectionsetsum.Example(), editdistance.Example(), numberstream.Example(), macd.Example(),
		sortnumbers.Example(), stringsearch.Example(), huffman.Example(), imageproc.Example(),
		primes.Example(), fileseek.Example(), fdcreate.Example(), randomsource.Example(),
	}
}

// quickExamples are the examples of -quick: one small one, in Go and C.
var quickExamples = []string{"sort-numbers"}

// The engine backends measured, in column order.
var computeKinds = []engine.Kind{engine.Wasmtime, engine.Wazero, engine.WazeroInterp}

// nodeColumn names Node.js's WASI (V8) in tables and plots.
const nodeColumn = "node"

//go:embed wasi-node.js
var nodeScript []byte

// computeRow is one program of one example, measured every way.
type computeRow struct {
	name, lang string
	inputBytes int
	native     stat
	// times are the run times by column: the engine kinds and "node".
	times map[string]stat
	// over are columns whose first run passed the budget: only that
	// run was kept.
	over map[string]bool
	// compile is the first run's compile time, by engine kind.
	compile map[string]time.Duration
}

// compute measures the examples natively, under each engine backend and
// under Node.js, on the same inputs, and returns the section.
func (b *bench) compute(ctx context.Context) (*section, error) {
	engines := map[engine.Kind]engine.Engine{}
	for _, k := range computeKinds {
		if !slices.Contains(engine.Kinds(), k) {
			return nil, fmt.Errorf("engine backend %s is not in this build (build with cgo for wasmtime)", k)
		}
		e, err := engine.New(engine.Options{Kind: k})
		if err != nil {
			return nil, err
		}
		defer e.Close()
		engines[k] = e
	}
	node, nodeErr := exec.LookPath("node")
	script := filepath.Join(b.tmp, "wasi-bench.js")
	if err := os.WriteFile(script, nodeScript, 0o644); err != nil {
		return nil, err
	}
	var rows []computeRow
	var notes []string
	if nodeErr != nil {
		notes = append(notes, "Node.js is not installed: its column is empty.")
	}
	for _, ex := range allExamples() {
		if !b.wantExample(ex.Name) {
			continue
		}
		inputs := ex.Inputs(!b.quick)
		size := 0
		for _, v := range inputs {
			size += len(v)
		}
		b.logf("compute %s: %s of input", ex.Name, bytesLabel(size))
		native, want, err := b.measureNative(ex, inputs)
		if err != nil {
			return nil, fmt.Errorf("%s natively: %w", ex.Name, err)
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
			wasm, caps, err := b.buildChain(ex, chain)
			if errors.Is(err, kit.ErrNoClang) {
				notes = append(notes, fmt.Sprintf("%s (C) not measured: %v", ex.Name, err))
				continue
			}
			if err != nil {
				return nil, err
			}
			r := computeRow{name: ex.Name, lang: lang, inputBytes: size, native: native,
				times: map[string]stat{}, over: map[string]bool{}, compile: map[string]time.Duration{}}
			for _, k := range computeKinds {
				s, compile, over, err := b.measureEngine(ctx, engines[k], k, ex, wasm, caps, inputs, want)
				if err != nil {
					return nil, fmt.Errorf("%s (%s) under %s: %w", ex.Name, lang, k, err)
				}
				r.times[string(k)], r.compile[string(k)], r.over[string(k)] = s, compile, over
				b.logf("  %s %s: %s (native %s)", lang, k, s, native)
			}
			if node != "" && len(wasm) == 1 {
				// Node.js is the reference, not the system under test:
				// its failure is reported, not fatal.
				s, err := b.measureNode(ctx, node, script, ex, wasm[0], inputs, want)
				if err != nil {
					notes = append(notes, fmt.Sprintf("%s (%s) failed under Node.js: %s.", ex.Name, lang, firstLine(err.Error())))
					b.logf("  %s node: %v", lang, err)
				} else {
					r.times[nodeColumn] = s
					b.logf("  %s node: %s", lang, s)
				}
			}
			rows = append(rows, r)
		}
	}
	return computeSection(rows, b, notes), nil
}

// buildChain builds the programs of chain and returns them with their
// capabilities.
func (b *bench) buildChain(ex kit.Example, chain []kit.Program) ([][]byte, []capability.Set, error) {
	dir := filepath.Join(b.root, "examples", ex.Name)
	var wasm [][]byte
	var caps []capability.Set
	for _, p := range chain {
		var w []byte
		var err error
		if p.GoDir != "" {
			w, err = kit.BuildGo(filepath.Join(dir, p.GoDir))
		} else {
			w, err = kit.BuildC(filepath.Join(dir, p.CSource))
		}
		if err != nil {
			return nil, nil, err
		}
		wasm = append(wasm, w)
		caps = append(caps, p.Caps)
	}
	return wasm, caps, nil
}

// measureNative runs the example's native code and returns its times and
// the first run's files.
func (b *bench) measureNative(ex kit.Example, inputs map[string][]byte) (stat, map[string][]byte, error) {
	var times []time.Duration
	var first map[string][]byte
	for i := range b.runs {
		files, _, took, err := kit.RunNative(b.tmp, ex.Steps, inputs)
		if err != nil {
			return stat{}, nil, err
		}
		if i == 0 {
			first = files
		}
		times = append(times, took)
	}
	return summarize(times), first, nil
}

// measureEngine runs the modules once to compile them, then b.runs times
// (b.interpRuns under the interpreter), checking every run's files against
// the native run's. A first run that passes b.budget ends the measurement
// with that run alone (over is true); one that passes b.interpCap is
// stopped and reported as the cap.
func (b *bench) measureEngine(ctx context.Context, eng engine.Engine, k engine.Kind, ex kit.Example, wasm [][]byte, caps []capability.Set, inputs, want map[string][]byte) (s stat, compile time.Duration, over bool, err error) {
	n := b.runs
	if k == engine.WazeroInterp {
		n = b.interpRuns
	}
	var times []time.Duration
	for i := range n + 1 {
		runCtx, cancel := context.WithTimeout(ctx, b.interpCap)
		r, err := kit.RunEngine(runCtx, eng, wasm, caps, inputs, nil)
		capped := runCtx.Err() != nil && ctx.Err() == nil
		cancel()
		if capped {
			// Even one run is too long to wait for: report the cap.
			return stat{med: b.interpCap.Seconds(), n: 1, capped: true}, 0, true, nil
		}
		if err != nil {
			return stat{}, 0, false, err
		}
		if err := same(ex, want, r.Files); err != nil {
			return stat{}, 0, false, err
		}
		if i == 0 {
			compile = r.Compile
			if r.Exec > b.budget {
				// The first run alone already took too long to repeat.
				return summarize([]time.Duration{r.Exec}), compile, true, nil
			}
			continue
		}
		times = append(times, r.Exec)
	}
	return summarize(times), compile, false, nil
}

// measureNode runs the module under Node.js's WASI over a directory holding
// the inputs, b.runs times, each in a fresh directory; the time is what
// the script measures around instantiation and the run (compilation, done
// first, and Node.js's own start are excluded, as the engine columns
// exclude compilation).
func (b *bench) measureNode(ctx context.Context, node, script string, ex kit.Example, wasm []byte, inputs, want map[string][]byte) (stat, error) {
	prog := filepath.Join(b.tmp, "node-prog.wasm")
	if err := os.WriteFile(prog, wasm, 0o644); err != nil {
		return stat{}, err
	}
	var times []time.Duration
	for range b.runs {
		root, err := os.MkdirTemp(b.tmp, "node-")
		if err != nil {
			return stat{}, err
		}
		if err := kit.Stage(root, inputs); err != nil {
			return stat{}, err
		}
		if err := kit.PrepareNative(root, ex.Steps); err != nil {
			return stat{}, err
		}
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, node, "--no-warnings", script, prog, root)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return stat{}, fmt.Errorf("%w: %s", err, stderr.String())
		}
		ns, err := lastNanos(stderr.String())
		if err != nil {
			return stat{}, err
		}
		got, err := kit.ReadTree(root)
		os.RemoveAll(root)
		if err != nil {
			return stat{}, err
		}
		if err := same(ex, want, got); err != nil {
			return stat{}, err
		}
		times = append(times, time.Duration(ns))
	}
	return summarize(times), nil
}

// lastNanos reads the "exec-ns N" line the Node.js script prints last.
func lastNanos(stderr string) (int64, error) {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if v, ok := strings.CutPrefix(lines[len(lines)-1], "exec-ns "); ok {
		return strconv.ParseInt(v, 10, 64)
	}
	return 0, fmt.Errorf("the Node.js script did not report its time: %q", stderr)
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

// columnLabel names a column for people.
func columnLabel(c string) string {
	switch c {
	case string(engine.Wasmtime):
		return "compiler (wasmtime)"
	case string(engine.Wazero):
		return "compiler (wazero)"
	case string(engine.WazeroInterp):
		return "interpreter (wazero)"
	case nodeColumn:
		return "Node.js WASI (V8)"
	}
	return c
}

func computeSection(rows []computeRow, b *bench, notes []string) *section {
	cols := []string{string(engine.Wasmtime), string(engine.Wazero), string(engine.WazeroInterp), nodeColumn}
	var t strings.Builder
	size := "`-large`"
	if b.quick {
		size = "normal (test)"
	}
	fmt.Fprintf(&t, "Each example's program on its %s inputs: natively (the program's Go code built for the host, over a temporary directory), "+
		"under the engine's compiler backends and its interpreter (instantiation and run, compiled module cached, over the in-memory file system "+
		"with the policy's capabilities), and under Node.js's WASI (instantiation and run, over a directory). "+
		"Every run's output files were compared with the native run's (random-source: paths and sizes). "+
		"C rows are the C version of the program against the same native Go baseline. "+
		"Times are median (min–max) of %d runs (%d under the interpreter; a † marks a figure of one run because that run passed %v, and a run stopped at %v is shown as more than that). "+
		"Slow-down (×) is the median against native's median, measured in the same run.\n\n", size, b.runs, b.interpRuns, b.budget, b.interpCap)
	fmt.Fprint(&t, "| example | program | input | native Go |")
	for _, c := range cols {
		fmt.Fprintf(&t, " %s | × |", columnLabel(c))
	}
	fmt.Fprintln(&t, " compile wasmtime | compile wazero |")
	fmt.Fprint(&t, "|---|---|---:|---:|")
	for range cols {
		fmt.Fprint(&t, "---:|---:|")
	}
	fmt.Fprintln(&t, "---:|---:|")
	var groups []barGroup
	for _, r := range rows {
		fmt.Fprintf(&t, "| %s | %s | %s | %s |", r.name, r.lang, bytesLabel(r.inputBytes), r.native)
		g := barGroup{label: r.name}
		if r.lang != "Go" {
			g.label += " (" + r.lang + ")"
		}
		for _, c := range cols {
			s, ok := r.times[c]
			if !ok {
				fmt.Fprint(&t, " — | — |")
				g.values = append(g.values, 0)
				continue
			}
			mark := ""
			if r.over[c] {
				mark = " †"
			}
			ratio := s.med / r.native.med
			more := ""
			if s.capped {
				more = "> "
			}
			fmt.Fprintf(&t, " %s%s | %s%.1f× |", s, mark, more, ratio)
			g.values = append(g.values, ratio)
		}
		fmt.Fprintf(&t, " %s | %s |\n", compileTime(r, engine.Wasmtime), compileTime(r, engine.Wazero))
		groups = append(groups, g)
	}
	for _, n := range notes {
		fmt.Fprintf(&t, "\n%s\n", n)
	}
	var labels []string
	for _, c := range cols {
		labels = append(labels, columnLabel(c))
	}
	plot := barChart{title: "Slow-down against native Go (log scale, lower is better)", unit: "× native",
		series: labels, groups: groups, log: true, baseline: 1}
	return &section{title: "Compute: the examples natively, compiled, interpreted and under V8", body: t.String(),
		plots: []namedPlot{{"compute.svg", "slow-down of each example against native Go", plot.svg()}}}
}

// firstLine is s up to its first line break, without trailing colons.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimRight(strings.TrimSpace(s), ":")
}

// compileTime is the first run's compile time under k, or a dash when that
// run was stopped at the cap before its compile time was known.
func compileTime(r computeRow, k engine.Kind) string {
	if r.times[string(k)].capped {
		return "—"
	}
	return ms(r.compile[string(k)])
}
