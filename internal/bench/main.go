// Command bench measures Truce, in one process and one sitting, against
// baselines measured in the same run, and writes the figures as Markdown
// tables to docs/benchmarks.md and as SVG plots to docs/img/:
//
//	go run ./internal/bench [-quick] [-sections compute,datapath,latency,scale] [-runs N] [-only EXAMPLE,…]
//
// The sections:
//
//   - compute: every example's program natively in Go, under the engine's
//     compiler backends (wasmtime, wazero), its interpreter, and Node.js's
//     WASI (V8) when node is installed, on the same inputs;
//   - datapath: upload and download of 16 MiB, 256 MiB and 1 GiB files
//     through a real host and runtime, against a plain Go TLS 1.3
//     connection on the same loopback;
//   - latency: an enclave's cold start (launch → attested → ready), a whole
//     small job (attest, upload program and data, run, fetch) cold and
//     warm, one attestation round trip and one client's dial and check;
//   - scale: time and memory against input size (sort-numbers, 10^3 to
//     10^7 numbers) and throughput and latency against concurrent clients
//     (1 to 256).
//
// Every figure is the median of several runs with its spread (min–max);
// every ratio is taken against a baseline measured in the same run. The
// system under test is the truce binary built from this repository, run as
// real processes on loopback, as the demo runs it. -quick is small enough
// for CI to run once as a smoke test.
//
// It is a measuring tool: it only dials the processes it starts, writes
// only its output files and temporary directories, and never runs in
// tests but through -quick into a temporary directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"time"
)

// bench is one run of the command.
type bench struct {
	root   string // the repository
	tmp    string // temporary directory, removed at the end
	out    string // Markdown file
	imgDir string // directory of the SVG plots
	quick  bool
	runs   int
	// interpRuns are the runs under the interpreter; budget is how long
	// one engine run may take for it to be repeated; interpCap stops one
	// that takes longer still (both apply to every backend, though only
	// the interpreter usually needs them).
	interpRuns        int
	budget, interpCap time.Duration
	only              []string
	log               io.Writer
	sys               *system // started by the first section that needs it
}

// section is one part of the document.
type section struct {
	title string
	body  string
	plots []namedPlot
}

// namedPlot is an SVG file and what it shows.
type namedPlot struct {
	file, alt string
	svg       []byte
}

// allSections are the sections in document order.
var allSections = []string{"compute", "datapath", "latency", "scale"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError string

func (u usageError) Error() string { return string(u) }

// run parses args and measures the sections asked for.
func run(ctx context.Context, args []string, log io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(log)
	b := &bench{log: log}
	fs.BoolVar(&b.quick, "quick", false, "small sizes and few runs: a smoke test of every section")
	fs.IntVar(&b.runs, "runs", 0, "runs of each measurement, the median is kept (default 5, 3 with -quick)")
	fs.IntVar(&b.interpRuns, "interp-runs", 3, "runs under the interpreter")
	fs.DurationVar(&b.budget, "interp-budget", 30*time.Second, "an engine run (usually the interpreter's) longer than this is not repeated")
	fs.DurationVar(&b.interpCap, "interp-cap", 5*time.Minute, "an engine run (usually the interpreter's) longer than this is stopped and shown as more than this")
	sections := fs.String("sections", strings.Join(allSections, ","), "comma-separated sections to measure")
	only := fs.String("only", "", "comma-separated examples for the compute section (default all; sort-numbers with -quick)")
	fs.StringVar(&b.out, "out", "docs/benchmarks.md", "Markdown file to write, relative to the repository")
	fs.StringVar(&b.imgDir, "img", "docs/img", "directory of the SVG plots, relative to the repository")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if b.runs == 0 {
		b.runs = 5
		if b.quick {
			b.runs = 3
		}
	}
	if b.runs < 1 || b.interpRuns < 1 {
		return usageError("-runs and -interp-runs must be at least 1")
	}
	want := strings.Split(*sections, ",")
	for _, s := range want {
		if !slices.Contains(allSections, s) {
			return usageError(fmt.Sprintf("no section %q: the sections are %s", s, strings.Join(allSections, ", ")))
		}
	}
	if *only != "" {
		b.only = strings.Split(*only, ",")
	} else if b.quick {
		b.only = quickExamples
	}
	var err error
	if b.root, err = repoRoot(); err != nil {
		return err
	}
	if !filepath.IsAbs(b.out) {
		b.out = filepath.Join(b.root, b.out)
	}
	if !filepath.IsAbs(b.imgDir) {
		b.imgDir = filepath.Join(b.root, b.imgDir)
	}
	if b.tmp, err = os.MkdirTemp("", "truce-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)
	defer func() {
		if b.sys != nil {
			b.sys.close()
		}
	}()

	started := time.Now()
	var done []*section
	for _, name := range allSections {
		if !slices.Contains(want, name) {
			continue
		}
		var s *section
		switch name {
		case "compute":
			s, err = b.compute(ctx)
		case "datapath":
			s, err = b.dataPath(ctx)
		case "latency":
			s, err = b.latency(ctx)
		case "scale":
			s, err = b.scale(ctx)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		done = append(done, s)
	}
	return b.write(done, args, time.Since(started))
}

// wantExample reports whether the compute section measures name.
func (b *bench) wantExample(name string) bool {
	return len(b.only) == 0 || slices.Contains(b.only, name)
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.log, format+"\n", a...)
}

// write puts the sections into the Markdown file and the plots beside it.
func (b *bench) write(sections []*section, args []string, took time.Duration) error {
	if err := os.MkdirAll(b.imgDir, 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(b.out), b.imgDir)
	if err != nil {
		rel = b.imgDir
	}
	var d strings.Builder
	fmt.Fprintln(&d, "# Benchmarks")
	fmt.Fprintln(&d)
	fmt.Fprintf(&d, "Written by `go run ./internal/bench %s` in %s. Do not edit: run it again.\n\n", strings.Join(args, " "), took.Round(time.Second))
	fmt.Fprintf(&d, "**Machine.** %s\n\n", machine())
	fmt.Fprintln(&d, "Every figure is the median of several runs, with the spread (min–max) after it; every ratio is the median of a measurement "+
		"against the median of its baseline, both measured in this same run (these machines are shared and noisy: compare ratios, not "+
		"absolute times, across runs). The system under test is the truce binary built from this repository, run as real processes "+
		"(attestation service, host, runtime) on loopback on the simulated platform, which adds no isolation cost: on real enclave "+
		"hardware, memory encryption and exits add their own.")
	for _, s := range sections {
		fmt.Fprintf(&d, "\n## %s\n\n%s", s.title, s.body)
		for _, p := range s.plots {
			if err := os.WriteFile(filepath.Join(b.imgDir, p.file), p.svg, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&d, "\n![%s](%s)\n", p.alt, filepath.ToSlash(filepath.Join(rel, p.file)))
		}
	}
	if err := os.MkdirAll(filepath.Dir(b.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(b.out, []byte(d.String()), 0o644); err != nil {
		return err
	}
	b.logf("wrote %s and %d plots in %s", b.out, countPlots(sections), b.imgDir)
	return nil
}

func countPlots(sections []*section) int {
	n := 0
	for _, s := range sections {
		n += len(s.plots)
	}
	return n
}

// machine describes this machine: CPU model, cores, memory, OS, Go and
// the date.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB of memory", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%s, %d logical CPUs%s, %s/%s, %s, measured %s.", cpu, goruntime.NumCPU(), mem,
		goruntime.GOOS, goruntime.GOARCH, goruntime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

// system returns the running system, starting it on first use.
func (b *bench) system(ctx context.Context) (*system, error) {
	if b.sys != nil {
		return b.sys, nil
	}
	b.logf("building truce and starting the attestation service")
	s, err := startSystem(ctx, b.root, b.tmp)
	if err != nil {
		return nil, err
	}
	b.sys = s
	return s, nil
}
