package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truce-project/truce/attest/sim"
	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/identity"
	"github.com/truce-project/truce/internal/pas"
	"github.com/truce-project/truce/policy"
)

// Bounds of truce load: it measures this machine, on loopback, and must
// not be turned into a way to flood anything.
const (
	maxLoadClients  = 512
	maxLoadEnclaves = 16
	maxLoadDuration = 10 * time.Minute
	maxLoadRequests = 1_000_000
	maxLoadSize     = 16 << 20
)

// loadReport is what truce load measured.
type loadReport struct {
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

func init() {
	var (
		clients, enclaves, requests, size int
		duration                          time.Duration
		asJSON                            bool
	)
	register(&command{
		name:    "load",
		args:    "[--clients N] [--enclaves M] [--duration D | --requests K] [--size BYTES] [--json]",
		summary: "measure throughput and latency of N clients against M enclaves on this machine",
		help: `Starts, on loopback only, an attestation service (truce pas serve), one host
(truce host serve) serving M enclaves on one port (simulated platform),
and N clients, each a principal of every policy, spread over the enclaves.
Each client verifies its enclave, then writes a file of --size bytes and
reads it back, again and again, until --duration has passed or --requests
requests were made in all. Every read is checked against what was written.

It reports the requests made, the errors, requests per second, the 50th and
99th percentile and the longest latency of a request, the median time to
dial and verify an enclave, and the peak resident memory of the host and
of its runtimes (from /proc). It exits 1 if any request failed.

It is bounded: at most 512 clients, 16 enclaves, 10 minutes, a million
requests and 16 MiB bodies; it never dials anything but the processes it
started. Example:

  truce load --clients 32 --enclaves 4 --duration 30s`,
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&clients, "clients", 8, "concurrent `N` clients (at most 512)")
			fs.IntVar(&enclaves, "enclaves", 1, "`M` enclaves on the host (at most 16)")
			fs.DurationVar(&duration, "duration", 10*time.Second, "how long to load (at most 10m)")
			fs.IntVar(&requests, "requests", 0, "stop after `K` requests in all instead of after --duration")
			fs.IntVar(&size, "size", 4096, "`BYTES` per file written")
			fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
		},
		run: func(e *env, fs *flag.FlagSet, args []string) error {
			if err := noArgs(args); err != nil {
				return err
			}
			switch {
			case clients < 1 || clients > maxLoadClients:
				return usagef("--clients must be 1 to %d, not %d", maxLoadClients, clients)
			case enclaves < 1 || enclaves > maxLoadEnclaves:
				return usagef("--enclaves must be 1 to %d, not %d", maxLoadEnclaves, enclaves)
			case duration <= 0 || duration > maxLoadDuration:
				return usagef("--duration must be more than 0 and at most %v, not %v", maxLoadDuration, duration)
			case requests < 0 || requests > maxLoadRequests:
				return usagef("--requests must be 0 (use --duration) to %d, not %d", maxLoadRequests, requests)
			case size < 1 || size > maxLoadSize:
				return usagef("--size must be 1 to %d bytes, not %d", maxLoadSize, size)
			}
			if requests > 0 && flagSet(fs, "duration") {
				return usagef("give --duration or --requests, not both")
			}
			if requests > 0 {
				duration = maxLoadDuration
			}
			// Setting up (identities, processes, attestation) may take a
			// minute on a busy machine; it does not count in the figures.
			ctx, cancel := context.WithTimeout(e.ctx, duration+3*time.Minute)
			defer cancel()
			l := &loader{d: &demo{e: e, ctx: ctx}, clients: clients, enclaves: enclaves, requests: int64(requests), duration: duration, size: size}
			rep, err := l.run()
			if err != nil {
				if e.ctx.Err() != nil {
					return withHint(errors.New("interrupted; everything truce load started is stopped"), "run it again")
				}
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				printLoad(e, rep)
			}
			if rep.Errors > 0 {
				return withHint(fmt.Errorf("%d of %d requests failed; the first: %s", rep.Errors, rep.Requests, rep.FirstError),
					"look at the host's log in a directory kept with TRUCE_LOAD_KEEP=DIR, or lower --clients")
			}
			return nil
		},
	})
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func printLoad(e *env, r *loadReport) {
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	fmt.Fprintf(e.stdout, "load: %d clients, %d %s, %d-byte files, %.2f s\n", r.Clients, r.Enclaves, plural(r.Enclaves, "enclave", "enclaves"), r.BodyBytes, r.Seconds)
	fmt.Fprintf(e.stdout, "requests: %d, errors %d\n", r.Requests, r.Errors)
	fmt.Fprintf(e.stdout, "throughput: %.1f requests/s\n", r.PerSecond)
	fmt.Fprintf(e.stdout, "latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.P50ms, r.P99ms, r.MaxMs)
	fmt.Fprintf(e.stdout, "dial and verify: p50 %.2f ms\n", r.DialP50ms)
	fmt.Fprintf(e.stdout, "memory: host peak %s, runtimes peak %s (all %d together)\n", mib(r.HostRSSPeak), mib(r.RuntimeRSSPeak), r.Enclaves)
}

// loader runs one load measurement.
type loader struct {
	d                  *demo
	clients, enclaves  int
	requests           int64
	duration           time.Duration
	size               int
	hostPid            int
	hostPeak, rtPeak   atomic.Int64
	stopSampling, done chan struct{}
}

func (l *loader) run() (*loadReport, error) {
	d := l.d
	if keep := d.e.getenv("TRUCE_LOAD_KEEP"); keep != "" {
		if err := os.MkdirAll(keep, 0o700); err != nil {
			return nil, err
		}
		d.dir = keep
	} else {
		dir, err := os.MkdirTemp("", "truce-load-")
		if err != nil {
			return nil, fmt.Errorf("making a working directory: %w", err)
		}
		d.dir = dir
		defer os.RemoveAll(dir)
	}
	defer d.stopAll()

	ids := make([]*identity.Identity, l.clients)
	for i := range ids {
		id, err := identity.New(fmt.Sprintf("c%d", i), 0, time.Time{}, nil)
		if err != nil {
			return nil, err
		}
		ids[i] = id
	}
	pasDir := filepath.Join(d.dir, "pas")
	if err := pas.Init(pasDir, nil); err != nil {
		return nil, fmt.Errorf("initialising the attestation service: %w", err)
	}
	addrFile := filepath.Join(d.dir, "pas.addr")
	if _, err := d.start("pas", nil, "pas", "serve", "--dir", pasDir, "--listen", "127.0.0.1:0", "--allow-sim", "--addr-file", addrFile); err != nil {
		return nil, err
	}
	pasAddr, err := d.waitFile(addrFile, 60*time.Second)
	if err != nil {
		return nil, withHint(fmt.Errorf("the attestation service did not start: %w", err), "see pas.log in a directory kept with TRUCE_LOAD_KEEP=DIR")
	}
	caPEM, err := os.ReadFile(filepath.Join(pasDir, pas.CACertFile))
	if err != nil {
		return nil, err
	}
	m, err := sim.MeasureSelf()
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
		b, err := loadTestPolicy(fmt.Sprintf("load-%d", i), ids, hostAddr, "https://"+pasAddr, caPEM, m)
		if err != nil {
			return nil, err
		}
		if pols[i], err = policy.Parse(b, time.Now()); err != nil {
			return nil, fmt.Errorf("truce load made an invalid policy: %w", err)
		}
		f := filepath.Join(d.dir, fmt.Sprintf("policy-%d.json", i))
		if err := os.WriteFile(f, b, 0o644); err != nil {
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
		return nil, withHint(errors.New("the host was not ready within 2 minutes"), "see host.log in a directory kept with TRUCE_LOAD_KEEP=DIR")
	}
	l.hostPid = cmd.Process.Pid
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
	rep := &loadReport{
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

// loadTestPolicy is a policy in which client i may read and write below
// /input/c<i>/.
func loadTestPolicy(name string, ids []*identity.Identity, hostAddr, pasURL string, caPEM, measurement []byte) ([]byte, error) {
	var principals []any
	for i, id := range ids {
		principals = append(principals, map[string]any{"name": id.Name, "cert": string(id.CertPEM()),
			"capabilities": map[string]string{fmt.Sprintf("/input/c%d/", i): "rw"}})
	}
	doc := map[string]any{
		"version": 1, "name": name,
		"expires": time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339),
		"host":    hostAddr,
		"attestation": map[string]any{"service": pasURL, "ca_cert": string(caPEM),
			"runtimes": []any{map[string]string{"platform": "sim", "measurement": hex.EncodeToString(measurement)}}},
		"principals": principals,
		"programs":   []any{},
		"limits":     map[string]any{},
	}
	return json.MarshalIndent(doc, "", "  ")
}
