package engine

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/internal/wasi"
)

// The CPU-bound workloads of guests/go/cpu.
var workloads = []string{"sort", "sha256", "matmul"}

var (
	nativeOnce sync.Once
	nativeBin  string
	nativeErr  error
	nativeMu   sync.Mutex
	nativeTime = map[string]time.Duration{}
)

// nativeCPU builds guests/go/cpu for the host: the same Go code the
// guest runs, compiled natively.
func nativeCPU(b *testing.B) string {
	nativeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "truce-bench-")
		if err != nil {
			nativeErr = err
			return
		}
		nativeBin = filepath.Join(dir, "cpu")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", nativeBin, ".")
		cmd.Dir = filepath.Join("..", "guests", "go", "cpu")
		if out, err := cmd.CombinedOutput(); err != nil {
			nativeErr = err
			b.Logf("%s", out)
		}
	})
	if nativeErr != nil {
		b.Fatalf("building the native workload: %v", nativeErr)
	}
	return nativeBin
}

// native returns the time one native run of workload w takes (the best
// of three), and its output.
func native(b *testing.B, w string) (time.Duration, string) {
	bin := nativeCPU(b)
	nativeMu.Lock()
	defer nativeMu.Unlock()
	var out []byte
	best, ok := nativeTime[w]
	for i := 0; i < 3 && !ok; i++ {
		t0 := time.Now()
		o, err := exec.Command(bin, w).Output()
		if err != nil {
			b.Fatalf("native %s: %v", w, err)
		}
		if d := time.Since(t0); best == 0 || d < best {
			best = d
		}
		out = o
	}
	if ok {
		o, err := exec.Command(bin, w).Output()
		if err != nil {
			b.Fatal(err)
		}
		out = o
	}
	nativeTime[w] = best
	return best, string(out)
}

// BenchmarkSlowdown runs each workload natively, on each backend and
// under Node.js's WASI, and reports the time per run and the slow-down
// against native ("x-native"). Compilation is cached, so it measures
// execution (and instantiation). wazero's interpreter is included only
// with TRUCE_BENCH_INTERP=1: it needs minutes.
func BenchmarkSlowdown(b *testing.B) {
	cpu := goGuest(b, "cpu")
	for _, w := range workloads {
		b.Run(w+"/native", func(b *testing.B) {
			nativeCPU(b)
			var total time.Duration
			for range b.N {
				t0 := time.Now()
				if err := exec.Command(nativeBin, w).Run(); err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
			}
			b.ReportMetric(1, "x-native")
			_ = total
		})
		for _, k := range Kinds() {
			if k == WazeroInterp && os.Getenv("TRUCE_BENCH_INTERP") == "" {
				continue
			}
			b.Run(w+"/"+string(k), func(b *testing.B) {
				nt, want := native(b, w)
				e := engineFor(b, k)
				run := func() {
					var out bytes.Buffer
					res, err := e.Run(context.Background(), Program{Wasm: cpu},
						Config{WASI: wasi.Config{Args: []string{"cpu", w}, Stdout: &out}, Timeout: 10 * time.Minute, MemoryBytes: 1 << 30})
					if err != nil || !res.OK() {
						b.Fatalf("%+v, %v", res, err)
					}
					if out.String() != want {
						b.Fatalf("%s computed %q, native %q", k, out.String(), want)
					}
				}
				run() // compile outside the timing
				b.ResetTimer()
				for range b.N {
					run()
				}
				b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(nt), "x-native")
			})
		}
		b.Run(w+"/node", func(b *testing.B) {
			node, err := exec.LookPath("node")
			if err != nil {
				b.Skip("node is not installed")
			}
			nt, want := native(b, w)
			prog := filepath.Join(b.TempDir(), "cpu.wasm")
			if err := os.WriteFile(prog, cpu, 0o644); err != nil {
				b.Fatal(err)
			}
			script, _ := filepath.Abs(filepath.Join("testdata", "wasi-node.js"))
			dir := b.TempDir()
			b.ResetTimer()
			for range b.N {
				out, err := exec.Command(node, "--no-warnings", script, prog, "/tmp="+dir, w).Output()
				if err != nil {
					b.Fatalf("node: %v", err)
				}
				if string(out) != want {
					b.Fatalf("node computed %q, native %q", out, want)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(nt), "x-native")
		})
	}
}

// BenchmarkCompileCache runs a Go program (misc hello) with a cold engine
// (compiling it) and then from the cache, and reports the speed-up.
func BenchmarkCompileCache(b *testing.B) {
	misc := goGuest(b, "misc")
	cfg := Config{WASI: wasi.Config{Args: []string{"misc", "hello"}}}
	for _, k := range Kinds() {
		b.Run(string(k), func(b *testing.B) {
			var cold, warm time.Duration
			for range b.N {
				e, err := New(Options{Kind: k})
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				res, err := e.Run(context.Background(), Program{Wasm: misc}, cfg)
				cold += time.Since(t0)
				if err != nil || !res.OK() || res.CacheHit {
					b.Fatalf("first run: %+v, %v", res, err)
				}
				t1 := time.Now()
				res, err = e.Run(context.Background(), Program{Wasm: misc}, cfg)
				warm += time.Since(t1)
				if err != nil || !res.OK() || !res.CacheHit {
					b.Fatalf("cached run: %+v, %v", res, err)
				}
				e.Close()
			}
			n := float64(b.N)
			b.ReportMetric(float64(cold.Milliseconds())/n, "first-ms")
			b.ReportMetric(float64(warm.Microseconds())/n/1000, "cached-ms")
			b.ReportMetric(float64(cold)/float64(warm), "speedup")
		})
	}
}

// BenchmarkRun measures the cost of one run of a cached small program:
// instantiation, WASI set-up and a write to stdout.
func BenchmarkRun(b *testing.B) {
	hello := testdata(b, "hello.wasm")
	for _, k := range Kinds() {
		b.Run(string(k), func(b *testing.B) {
			e := engineFor(b, k)
			for range b.N {
				res, err := e.Run(context.Background(), Program{Wasm: hello}, Config{})
				if err != nil || !res.OK() {
					b.Fatalf("%+v, %v", res, err)
				}
			}
		})
	}
}
