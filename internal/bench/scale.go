package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/bench/kit"
	sortnumbers "github.com/truce-project/truce/examples/sort-numbers"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/engine"
	"github.com/truce-project/truce/policy"
)

// scale measures how time and memory grow with the input and with the
// number of concurrent clients.
func (b *bench) scale(ctx context.Context) (*section, error) {
	sizes, err := b.scaleInput(ctx)
	if err != nil {
		return nil, err
	}
	clients, err := b.scaleClients(ctx)
	if err != nil {
		return nil, err
	}
	return &section{title: "Scale: input size and concurrent clients",
		body:  sizes.body + "\n" + clients.body,
		plots: append(sizes.plots, clients.plots...)}, nil
}

// scaleInput runs sort-numbers on 10^3 … 10^7 numbers natively and under
// both compilers.
func (b *bench) scaleInput(ctx context.Context) (*section, error) {
	counts := []int{1e3, 1e4, 1e5, 1e6, 1e7}
	if b.quick {
		counts = []int{1e3, 1e4}
	}
	ex := sortnumbers.Example()
	wasm, caps, err := b.buildChain(ex, ex.Steps)
	if err != nil {
		return nil, err
	}
	kinds := []engine.Kind{engine.Wasmtime, engine.Wazero}
	engines := map[engine.Kind]engine.Engine{}
	for _, k := range kinds {
		e, err := engine.New(engine.Options{Kind: k})
		if err != nil {
			return nil, err
		}
		defer e.Close()
		engines[k] = e
	}
	var t strings.Builder
	fmt.Fprintf(&t, "### Input size\n\nsort-numbers on n pseudo-random 64-bit integers (8n bytes of input), median (min–max) of %d runs. "+
		"Memory is what each had to hold: natively the bytes the Go code allocated (its heap allocations during the run), under an "+
		"engine the guest's linear memory at the end of the run (the most it grew to). The ratio is against native's median in the same run.\n\n", b.runs)
	fmt.Fprintln(&t, "| n | native Go | memory | compiler (wasmtime) | × | memory | compiler (wazero) | × | memory |")
	fmt.Fprintln(&t, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	var xs []float64
	timeSeries := []lineSeries{{name: "native Go"}, {name: columnLabel(string(engine.Wasmtime))}, {name: columnLabel(string(engine.Wazero))}}
	memSeries := []lineSeries{{name: "native Go (allocated)"}, {name: "wasmtime (linear memory)"}, {name: "wazero (linear memory)"}}
	for _, n := range counts {
		b.logf("scale: %d numbers", n)
		inputs := map[string][]byte{sortnumbers.InputPath: sortnumbers.Generate(n)}
		var native []time.Duration
		var nativeMem uint64
		var want map[string][]byte
		for i := range b.runs {
			var before, after goruntime.MemStats
			goruntime.GC()
			goruntime.ReadMemStats(&before)
			files, _, took, err := kit.RunNative(b.tmp, ex.Steps, inputs)
			goruntime.ReadMemStats(&after)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				want = files
			}
			native = append(native, took)
			// Staging and reading back the files are included in the
			// allocations; they are small next to the sort's copy.
			nativeMem = max(nativeMem, after.TotalAlloc-before.TotalAlloc)
		}
		ns := summarize(native)
		fmt.Fprintf(&t, "| %s | %s | %s |", strconv.Itoa(n), ns, bytesLabel(int(nativeMem)))
		xs = append(xs, float64(n))
		timeSeries[0].y = append(timeSeries[0].y, ns.med*1e3)
		memSeries[0].y = append(memSeries[0].y, float64(nativeMem)/(1<<20))
		for i, k := range kinds {
			var times []time.Duration
			var mem int64
			for r := range b.runs + 1 {
				res, err := kit.RunEngine(ctx, engines[k], wasm, caps, inputs, nil)
				if err != nil {
					return nil, fmt.Errorf("sort-numbers of %d under %s: %w", n, k, err)
				}
				if err := same(ex, want, res.Files); err != nil {
					return nil, err
				}
				if r > 0 { // the first run compiles
					times = append(times, res.Exec)
				}
				mem = max(mem, res.Memory)
			}
			s := summarize(times)
			fmt.Fprintf(&t, " %s | %.1f× | %s |", s, s.med/ns.med, bytesLabel(int(mem)))
			timeSeries[i+1].y = append(timeSeries[i+1].y, s.med*1e3)
			memSeries[i+1].y = append(memSeries[i+1].y, float64(mem)/(1<<20))
		}
		fmt.Fprintln(&t)
	}
	timePlot := lineChart{title: "sort-numbers: time against input size (log-log)", xUnit: "numbers sorted", yUnit: "milliseconds",
		x: xs, series: timeSeries, logX: true, logY: true}
	memPlot := lineChart{title: "sort-numbers: memory against input size (log-log)", xUnit: "numbers sorted", yUnit: "MiB",
		x: xs, series: memSeries, logX: true, logY: true}
	return &section{body: t.String(), plots: []namedPlot{
		{"scale-input-time.svg", "time of sort-numbers against input size", timePlot.svg()},
		{"scale-input-memory.svg", "memory of sort-numbers against input size", memPlot.svg()},
	}}, nil
}

// scaleClients runs 1 … 256 clients at once against one enclave, each
// writing and reading back its own 4 KiB file in a loop.
func (b *bench) scaleClients(ctx context.Context) (*section, error) {
	levels := []int{1, 4, 16, 64, 256}
	window := 3 * time.Second
	if b.quick {
		levels, window = []int{1, 4}, time.Second
	}
	sys, err := b.system(ctx)
	if err != nil {
		return nil, err
	}
	most := slices.Max(levels)
	ids, err := identities("c", most)
	if err != nil {
		return nil, err
	}
	parties := make([]party, most)
	for i, id := range ids {
		parties[i] = party{id, capability.Set{fmt.Sprintf("/data/c%d/", i): capability.Read | capability.Write}}
	}
	addr, err := deployment.FreeAddr()
	if err != nil {
		return nil, err
	}
	pol, file, err := sys.writePolicy("clients", addr, parties, nil)
	if err != nil {
		return nil, err
	}
	host, _, err := sys.startHost(ctx, "host-clients", addr, file)
	if err != nil {
		return nil, err
	}
	defer host.Stop()
	sessions := make([]*client.Session, most)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
	}()
	var t strings.Builder
	fmt.Fprintf(&t, "### Concurrent clients\n\nN clients, each a principal with its own verified session to one enclave, write (`PUT`) and read back "+
		"(`GET`) their own 4 KiB file as fast as they can for %v; every read is checked. Throughput is the median (min–max) over %d such windows; "+
		"latencies are percentiles of every request of all windows; memory is the peak resident size of the runtime process (from /proc) "+
		"during the windows. The ratio is the throughput against one client's, in the same run.\n\n", window, b.runs)
	fmt.Fprintln(&t, "| clients | requests/s | × 1 client | p50 | p99 | errors | runtime memory (peak) |")
	fmt.Fprintln(&t, "|---:|---:|---:|---:|---:|---:|---:|")
	var xs []float64
	tput := []lineSeries{{name: "requests/s"}}
	lat := []lineSeries{{name: "p50"}, {name: "p99"}}
	var one float64
	for _, n := range levels {
		b.logf("scale: %d clients", n)
		if err := dialAll(ctx, sessions[:n], pol, ids, addr); err != nil {
			return nil, err
		}
		var perSecond []float64
		var lats []time.Duration
		var errs int64
		peak := newPeak(host.Pid())
		for range b.runs {
			rate, l, e := load(ctx, sessions[:n], window)
			perSecond, lats, errs = append(perSecond, rate), append(lats, l...), errs+e
		}
		mem := peak.stop()
		slices.Sort(lats)
		s := summarizeValues(perSecond)
		s.rate, s.unit = true, "/s"
		if n == levels[0] {
			one = s.med
		}
		p50, p99 := percentile(lats, 0.50), percentile(lats, 0.99)
		fmt.Fprintf(&t, "| %d | %s | %.1f× | %s | %s | %d | %s |\n", n, s, s.med/one, ms(p50), ms(p99), errs, bytesLabel(int(mem)))
		xs = append(xs, float64(n))
		tput[0].y = append(tput[0].y, s.med)
		lat[0].y = append(lat[0].y, p50.Seconds()*1e3)
		lat[1].y = append(lat[1].y, p99.Seconds()*1e3)
		if errs > 0 {
			return nil, fmt.Errorf("%d requests failed with %d clients", errs, n)
		}
	}
	tp := lineChart{title: "Throughput against concurrent clients (log-log)", xUnit: "concurrent clients", yUnit: "requests/s",
		x: xs, series: tput, logX: true, logY: true}
	lp := lineChart{title: "Request latency against concurrent clients (log-log)", xUnit: "concurrent clients", yUnit: "milliseconds",
		x: xs, series: lat, logX: true, logY: true}
	return &section{body: t.String(), plots: []namedPlot{
		{"scale-clients-throughput.svg", "throughput against concurrent clients", tp.svg()},
		{"scale-clients-latency.svg", "latency against concurrent clients", lp.svg()},
	}}, nil
}

// dialAll makes sure every slot of sessions holds a verified session,
// dialing at most 16 at a time.
func dialAll(ctx context.Context, sessions []*client.Session, pol *policy.Policy, ids []*identity.Identity, addr string) error {
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	sem := make(chan struct{}, 16)
	for i := range sessions {
		if sessions[i] != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			s, err := client.Dial(ctx, pol, ids[i], client.WithAddr(addr))
			if err != nil {
				err = fmt.Errorf("client %d dialing: %w", i, err)
				first.CompareAndSwap(nil, &err)
				return
			}
			sessions[i] = s
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// load has every session write and read back its file until window has
// passed, and returns the requests per second, every request's latency
// and the number that failed.
func load(ctx context.Context, sessions []*client.Session, window time.Duration) (float64, []time.Duration, int64) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []time.Duration
	var failed atomic.Int64
	start := time.Now()
	stop := start.Add(window)
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte{byte('a' + i%26)}, 4096)
			p := fmt.Sprintf("/data/c%d/file", i)
			var mine []time.Duration
			var got bytes.Buffer
			for k := 0; time.Now().Before(stop) && ctx.Err() == nil; k++ {
				t0 := time.Now()
				var err error
				if k%2 == 0 {
					_, err = s.Put(ctx, p, bytes.NewReader(body))
				} else {
					got.Reset()
					if _, err = s.Get(ctx, p, &got); err == nil && !bytes.Equal(got.Bytes(), body) {
						err = fmt.Errorf("read back other bytes")
					}
				}
				mine = append(mine, time.Since(t0))
				if err != nil {
					failed.Add(1)
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return float64(len(all)) / time.Since(start).Seconds(), all, failed.Load()
}

// percentile of sorted durations; q in [0, 1].
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted)-1)+0.5), len(sorted)-1)]
}

// peak samples, every 50 ms, the resident memory of the children of a
// process (a host's runtimes) and keeps the largest sum.
type peak struct {
	max  atomic.Int64
	quit chan struct{}
	done chan struct{}
}

func newPeak(pid int) *peak {
	p := &peak{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			var sum int64
			for _, c := range children(pid) {
				sum += rss(c)
			}
			if sum > p.max.Load() {
				p.max.Store(sum)
			}
			select {
			case <-p.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *peak) stop() int64 {
	close(p.quit)
	<-p.done
	return p.max.Load()
}

// rss is a process's resident memory from /proc/PID/status, or 0.
func rss(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			k, _ := strconv.ParseInt(f[1], 10, 64)
			return k << 10
		}
	}
	return 0
}

// children lists the children of pid.
func children(pid int) []int {
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var out []int
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
