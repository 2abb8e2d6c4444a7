package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"github.com/truce-project/truce/examples/bench/kit"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuick is the smoke test of the command: it builds it (without the
// race detector, so that it measures what users run) and runs every
// section with -quick into a temporary directory, then checks that each
// section and each plot was written and that the plots are well-formed SVG.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds truce and runs the bench's smallest sizes against real processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bench")
	build := exec.Command(kit.GoTool(), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the bench: %v\n%s", err, out)
	}
	out, img := filepath.Join(dir, "benchmarks.md"), filepath.Join(dir, "img")
	cmd := exec.Command(bin, "-quick", "-runs", "1", "-interp-runs", "1", "-out", out, "-img", img)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench -quick: %v\n%s", err, log.String())
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Compute", "## Data path", "## Latency", "## Scale", "**Machine.**",
		"| sort-numbers | Go |", "| 16.0 MiB |", "attestation round trip", "| 4 |"} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("benchmarks.md lacks %q:\n%s", want, doc)
		}
	}
	plots, _ := filepath.Glob(filepath.Join(img, "*.svg"))
	if len(plots) != 7 {
		t.Errorf("%d plots written, want 7: %v", len(plots), plots)
	}
	for _, p := range plots {
		b, _ := os.ReadFile(p)
		if err := wellFormed(b); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if !bytes.Contains(doc, []byte("img/"+filepath.Base(p))) {
			t.Errorf("benchmarks.md does not show %s", filepath.Base(p))
		}
	}
}

// wellFormed parses b as XML to its end.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestStatString(t *testing.T) {
	for _, tc := range []struct {
		in   stat
		want string
	}{
		{summarize([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond}), "2.00 ms (1.00–3.00)"},
		{summarize([]time.Duration{10 * time.Millisecond, 20 * time.Millisecond}), "15.0 ms (10.0–20.0)"},
		{summarize([]time.Duration{12 * time.Second}), "12.0 s"},
		{summarize([]time.Duration{250 * time.Microsecond, 300 * time.Microsecond, 200 * time.Microsecond}), "250 µs (200–300)"},
		{rates(64, "MiB/s", []time.Duration{time.Second, 2 * time.Second, 500 * time.Millisecond}), "64 MiB/s (32–128)"},
		{stat{med: 300, n: 1, capped: true}, "> 300 s"},
		{stat{}, "—"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScale(t *testing.T) {
	lin := scale{lo: 0, hi: 10, x0: 100, x1: 200}
	if x := lin.x(5); x != 150 {
		t.Errorf("linear middle at %v", x)
	}
	lg := scale{lo: 1, hi: 100, log: true, x0: 0, x1: 200}
	for v, want := range map[float64]float64{1: 0, 10: 100, 100: 200, 0: 0} {
		if x := lg.x(v); x != want {
			t.Errorf("log x(%v) = %v, want %v", v, x, want)
		}
	}
	if got := lg.ticks(); len(got) != 3 || got[0] != 1 || got[2] != 100 {
		t.Errorf("log ticks %v", got)
	}
	for in, want := range map[float64]float64{0.7: 1, 3: 5, 12: 20, 40: 50, 0: 1} {
		if got := niceStep(in); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestPlotsWellFormed(t *testing.T) {
	bars := barChart{title: "a < b & c", unit: "×", series: []string{"one", "two"}, log: true, baseline: 1,
		groups: []barGroup{{label: "x", values: []float64{2, 0}}, {label: "<y>", values: []float64{300, 4}}}}
	lines := lineChart{title: "t", xUnit: "n", yUnit: "ms", x: []float64{1e3, 1e4, 1e5},
		series: []lineSeries{{name: "s", y: []float64{1, 10, 0}}}, logX: true, logY: true}
	empty := barChart{title: "nothing"}
	for name, svg := range map[string][]byte{"bars": bars.svg(), "lines": lines.svg(), "empty": empty.svg()} {
		if err := wellFormed(svg); err != nil {
			t.Errorf("%s: %v\n%s", name, err, svg)
		}
		if !strings.HasPrefix(string(svg), "<svg ") {
			t.Errorf("%s does not start with <svg", name)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-sections", "gpu"}, {"-runs", "-1"}, {"extra"}, {"-nope"}} {
		err := run(t.Context(), args, io.Discard)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
