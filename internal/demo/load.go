package demo

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/capability"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/atomicfile"
	"github.com/truce-project/truce/internal/hint"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/policy"
)

// Bounds of Load: it measures this machine, on loopback, and must not be
// turned into a way to flood anything.
const (
	MaxLoadClients  = 512
	MaxLoadEnclaves = 16
	MaxLoadDuration = 10 * time.Minute
	MaxLoadRequests = 1_000_000
	MaxLoadSize     = 16 << 20
)

// ErrLoadBounds is wrapped by Load's error when its options are out of
// the bounds above.
var ErrLoadBounds = errors.New("out of bounds")

// LoadOptions configure Load.
type LoadOptions struct {
	// Exe is the truce executable, started for the attestation service
	// and the host. Required.
	Exe string
	// Clients and Enclaves are how many clients load how many enclaves
	// (client i the enclave i mod Enclaves); zero means 1 each.
	Clients, Enclaves int
	// Requests stops the load after this many requests in all; zero
	// means after Duration.
	Requests int
	// Duration is how long to load when Requests is zero (zero: 10 s);
	// with Requests it is MaxLoadDuration.
	Duration time.Duration
	// Size is the bytes of each file written; zero means 4096.
	Size int
	// Keep, if set, is the directory (created) in which the processes'
	// files and logs are kept; otherwise they are in a temporary
	// directory removed at the end.
	Keep string
	// KeepHint names, in the hints of errors, how a user keeps the files, such
	// as "TRUCE_LOAD_KEEP=DIR"; empty means Keep.
	KeepHint string
}

// Report is what Load measured.
type Report struct {
	Clients        int     `json:"clients"`
	Enclaves       int     `json:"enclaves"`
	BodyBytes      int     `json:"body_bytes"`
	Seconds        float64 `json:"seconds"`
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	FirstError     string  `json:"first_error,omitempty"`
	PerSecond      float64 `json:"requests_per_second"`
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	MaxMs          float64 `json:"max_ms"`
	DialP50ms      float64 `json:"dial_p50_ms"`
	HostRSSPeak    int64   `json:"host_rss_peak_bytes"`
	RuntimeRSSPeak int64   `json:"runtimes_rss_peak_bytes"`
}

// Print writes the report for a person, one line per figure.
func (r *Report) Print(w io.Writer) {
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	fmt.Fprintf(w, "load: %d clients, %d %s, %d-byte files, %.2f s\n", r.Clients, r.Enclaves, plural(r.Enclaves, "enclave", "enclaves"), r.BodyBytes, r.Seconds)
	fmt.Fprintf(w, "requests: %d, errors %d\n", r.Requests, r.Errors)
	fmt.Fprintf(w, "throughput: %.1f requests/s\n", r.PerSecond)
	fmt.Fprintf(w, "latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.P50ms, r.P99ms, r.MaxMs)
	fmt.Fprintf(w, "dial and verify: p50 %.2f ms\n", r.DialP50ms)
	fmt.Fprintf(w, "memory: host peak %s, runtimes peak %s (all %d together)\n", mib(r.HostRSSPeak), mib(r.RuntimeRSSPeak), r.Enclaves)
}

// Load measures this machine, on loopback only: it starts an attestation
// service and one host serving o.Enclaves enclaves on one port (simulated
// platform), and o.Clients clients, each a principal of every policy.
// Each client verifies its enclave, then writes a file of o.Size bytes
// and reads it back, again and again, until o.Duration has passed or
// o.Requests requests were made in all; every read is checked against
// what was written. It reports the requests and errors, their rate and
// latency, the median time to dial and verify an enclave, and the peak
// resident memory of the host and its runtimes (from /proc). Setting up
// does not count in the figures. Everything it started is stopped when it
// returns. Errors with advice for the user are *hint.Error.
func Load(ctx context.Context, o LoadOptions) (*Report, error) {
	if o.Clients == 0 {
		o.Clients = 1
	}
	if o.Enclaves == 0 {
		o.Enclaves = 1
	}
	if o.Size == 0 {
		o.Size = 4096
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Requests > 0 {
		o.Duration = MaxLoadDuration
	}
	switch {
	case o.Clients < 1 || o.Clients > MaxLoadClients:
		return nil, fmt.Errorf("%w: clients must be 1 to %d, not %d", ErrLoadBounds, MaxLoadClients, o.Clients)
	case o.Enclaves < 1 || o.Enclaves > MaxLoadEnclaves:
		return nil, fmt.Errorf("%w: enclaves must be 1 to %d, not %d", ErrLoadBounds, MaxLoadEnclaves, o.Enclaves)
	case o.Duration < 0 || o.Duration > MaxLoadDuration:
		return nil, fmt.Errorf("%w: duration must be more than 0 and at most %v, not %v", ErrLoadBounds, MaxLoadDuration, o.Duration)
	case o.Requests < 0 || o.Requests > MaxLoadRequests:
		return nil, fmt.Errorf("%w: requests must be 0 to %d, not %d", ErrLoadBounds, MaxLoadRequests, o.Requests)
	case o.Size < 1 || o.Size > MaxLoadSize:
		return nil, fmt.Errorf("%w: size must be 1 to %d bytes, not %d", ErrLoadBounds, MaxLoadSize, o.Size)
	}
	if o.KeepHint == "" {
		o.KeepHint = o.Keep
	}
	// Setting up (identities, processes, attestation) may take a minute
	// on a busy machine; it does not count in the figures.
	ctx, cancel := context.WithTimeout(ctx, o.Duration+3*time.Minute)
	defer cancel()
	l := &loader{d: &children{exe: o.Exe, ctx: ctx}, clients: o.Clients, enclaves: o.Enclaves,
		requests: int64(o.Requests), duration: o.Duration, size: o.Size, keepWith: o.KeepHint}
	return l.run(o.Keep)
}

// loader runs one load measurement.
type loader struct {
	d                  *children
	clients, enclaves  int
	requests           int64
	duration           time.Duration
	size               int
	hostPid            int
	keepWith           string // how the user keeps the files, for hints
	hostPeak, rtPeak   atomic.Int64
	stopSampling, done chan struct{}
}

func (l *loader) run(keep string) (*Report, error) {
	d := l.d
	dir, cleanup, err := workDir(keep, "truce-load-", false)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	d.dir = dir
	defer d.stopAll()

	ids := make([]*identity.Identity, l.clients)
	for i := range ids {
		id, err := identity.New(fmt.Sprintf("c%d", i), 0, time.Time{}, nil)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	pasDir, pasURL, caPEM, err := d.startPAS(60 * time.Second)
	if err != nil {
		return nil, hint.With(err, "%s", l.seeLog("pas.log"))
	}
	m, err := sim.MeasureFile(d.exe)
	if err != nil {
		return nil, fmt.Errorf("measuring the runtime: %w", err)
	}
	hostAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pols := make([]*policy.Policy, l.enclaves)
	args := []string{"host", "serve", "--platform", "sim", "--listen", hostAddr, "--log-level", "warn",
		"--sim-device-key", filepath.Join(pasDir, pas.DeviceKeyFile)}
	for i := range pols {
		b, err := policy.Encode(loadPolicy(fmt.Sprintf("load-%d", i), ids, hostAddr, pasURL, caPEM, m, time.Now()))
		if err != nil {
			return nil, err
		}
		if pols[i], err = policy.Parse(b, time.Now()); err != nil {
			return nil, fmt.Errorf("truce load made an invalid policy: %w", err)
		}
		f := filepath.Join(d.dir, fmt.Sprintf("policy-%d.json", i))
		if err := atomicfile.Write(f, b, 0o644); err != nil {
			return nil, err
		}
		args = append(args, "--policy", f)
	}
	ready := make(chan struct{}, 1)
	cmd, err := d.start("host", func(line string) {
		if strings.HasPrefix(line, "ready ") {
			select {
			case ready <- struct{}{}:
			default:
			}
		}
	}, args...)
	if err != nil {
		return nil, err
	}
	select {
	case <-ready:
	case <-d.ctx.Done():
		return nil, d.ctx.Err()
	case <-time.After(2 * time.Minute):
		return nil, hint.With(errors.New("the host was not ready within 2 minutes"), "%s", l.seeLog("host.log"))
	}
	l.hostPid = cmd.Pid()
	l.stopSampling, l.done = make(chan struct{}), make(chan struct{})
	go l.sample()

	// Dial every client first: setting up does not count in the figures.
	sessions := make([]*client.Session, l.clients)
	dials := make([]time.Duration, l.clients)
	var wg sync.WaitGroup
	var dialErr atomic.Pointer[error]
	sem := make(chan struct{}, 16)
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			s, err := client.Dial(d.ctx, pols[i%l.enclaves], ids[i], client.WithAddr(hostAddr))
			if err != nil {
				err = fmt.Errorf("client %d dialing enclave %d: %w", i, i%l.enclaves, err)
				dialErr.CompareAndSwap(nil, &err)
				return
			}
			dials[i] = time.Since(start)
			sessions[i] = s
		}()
	}
	wg.Wait()
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
	}()
	if p := dialErr.Load(); p != nil {
		return nil, *p
	}

	var (
		made, failed atomic.Int64
		firstErr     atomic.Pointer[string]
		latMu        sync.Mutex
		lats         = make([]time.Duration, 0, 1<<16)
	)
	stop := time.Now().Add(l.duration)
	start := time.Now()
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := bytes.Repeat([]byte{byte('a' + i%26)}, l.size)
			p := fmt.Sprintf("/input/c%d/data", i)
			var mine []time.Duration
			var got bytes.Buffer
			for k := 0; time.Now().Before(stop) && d.ctx.Err() == nil; k++ {
				if l.requests > 0 && made.Add(1) > l.requests {
					made.Add(-1)
					break
				} else if l.requests == 0 {
					made.Add(1)
				}
				t0 := time.Now()
				var err error
				if k%2 == 0 {
					_, err = s.Put(d.ctx, p, bytes.NewReader(body))
				} else {
					got.Reset()
					if _, err = s.Get(d.ctx, p, &got); err == nil && !bytes.Equal(got.Bytes(), body) {
						err = fmt.Errorf("client %d read back %d bytes that differ from what it wrote", i, got.Len())
					}
				}
				mine = append(mine, time.Since(t0))
				if err != nil {
					failed.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
				}
			}
			latMu.Lock()
			lats = append(lats, mine...)
			latMu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(l.stopSampling)
	<-l.done

	sort.Slice(lats, func(a, b int) bool { return lats[a] < lats[b] })
	sort.Slice(dials, func(a, b int) bool { return dials[a] < dials[b] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	rep := &Report{
		Clients: l.clients, Enclaves: l.enclaves, BodyBytes: l.size, Seconds: elapsed.Seconds(),
		Requests: made.Load(), Errors: failed.Load(),
		PerSecond:   float64(made.Load()) / elapsed.Seconds(),
		P50ms:       ms(percentile(lats, 0.50)),
		P99ms:       ms(percentile(lats, 0.99)),
		MaxMs:       ms(percentile(lats, 1)),
		DialP50ms:   ms(percentile(dials, 0.50)),
		HostRSSPeak: l.hostPeak.Load(), RuntimeRSSPeak: l.rtPeak.Load(),
	}
	if p := firstErr.Load(); p != nil {
		rep.FirstError = *p
	}
	return rep, nil
}

// seeLog is the hint to read a child's log in a kept directory.
func (l *loader) seeLog(name string) string {
	if l.keepWith == "" {
		return "run again; the files of a run are not kept"
	}
	return "see " + name + " in a directory kept with " + l.keepWith
}

// percentile of sorted durations; q in [0, 1].
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)-1) + 0.5)
	return sorted[min(i, len(sorted)-1)]
}

// sample records the peak resident memory of the host and of its
// runtimes (the host's children) every 100 ms.
func (l *loader) sample() {
	defer close(l.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if h := procRSS(l.hostPid); h > l.hostPeak.Load() {
			l.hostPeak.Store(h)
		}
		var sum int64
		for _, c := range procChildren(l.hostPid) {
			sum += max(procRSS(c), 0)
		}
		if sum > l.rtPeak.Load() {
			l.rtPeak.Store(sum)
		}
		select {
		case <-l.stopSampling:
			return
		case <-t.C:
		}
	}
}

// procRSS is a process's resident memory from /proc/PID/status, or -1.
func procRSS(pid int) int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			k, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return -1
			}
			return k << 10
		}
	}
	return -1
}

// procChildren lists the children of pid from /proc/PID/task/*/children.
func procChildren(pid int) []int {
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// loadPolicy is a policy in which client i may read and write below
// /input/c<i>/.
func loadPolicy(name string, ids []*identity.Identity, hostAddr, pasURL string, caPEM, measurement []byte, now time.Time) *policy.Policy {
	var principals []policy.Principal
	for i, id := range ids {
		principals = append(principals, policy.Principal{Name: id.Name, Cert: string(id.CertPEM()),
			Capabilities: capability.Set{fmt.Sprintf("/input/c%d/", i): capability.Read | capability.Write}})
	}
	return &policy.Policy{
		Version: policy.Version, Name: name,
		Expires: now.Add(24 * time.Hour).UTC().Truncate(time.Second),
		Host:    hostAddr,
		Attestation: policy.Attestation{Service: pasURL, CACert: string(caPEM),
			Runtimes: []policy.Runtime{{Platform: "sim", Measurement: hex.EncodeToString(measurement)}}},
		Principals: principals,
	}
}
