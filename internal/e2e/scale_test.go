package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truce-project/truce/client"
	"github.com/truce-project/truce/examples/shamir"
	"github.com/truce-project/truce/internal/deployment"
	"github.com/truce-project/truce/internal/deployment/deploymenttest"
	"github.com/truce-project/truce/internal/host"
)

// manyEnclaves is a host serving n stories from a directory of policies.
type manyEnclaves struct {
	ps      *deployment.AttestationService
	stories []*story
	h       *deployment.Host
	metrics string // http://ADDR/metrics
}

func startMany(t testing.TB, n int, extra ...string) *manyEnclaves {
	t.Helper()
	ps := startPAS(t)
	addr := deploymenttest.FreeAddr(t)
	dir := t.TempDir()
	m := &manyEnclaves{ps: ps}
	for i := range n {
		s := newStory(t, ps, storyOptions{hostAddr: addr})
		b, err := os.ReadFile(s.polFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("story-%02d.json", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		m.stories = append(m.stories, s)
	}
	maddr := deploymenttest.FreeAddr(t)
	m.metrics = "http://" + maddr + "/metrics"
	m.h = startHost(t, ps, addr, nil, append([]string{"--policy-dir", dir, "--metrics", maddr, "--log-level", "warn"}, extra...)...)
	return m
}

// prepare uploads the program and the shares of story s, once.
func prepare(t testing.TB, s *story) *client.Session {
	t.Helper()
	ctx := context.Background()
	shares := split(t, []byte(s.pol.HashHex()[:16]))
	put := func(n, p string, b []byte) {
		sess, err := client.Dial(ctx, s.pol, s.parties[n].id)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		if _, err := sess.Put(ctx, p, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	put("oscar", shamir.Path, shamir.Wasm)
	for i, n := range shareNames {
		put(n, fmt.Sprintf("/input/shamir-%d.dat", i), shares[i])
	}
	dave, err := client.Dial(ctx, s.pol, s.parties["dave"].id)
	if err != nil {
		t.Fatal(err)
	}
	return dave
}

// smallJob runs the Shamir program and reads the result back.
func smallJob(ctx context.Context, s *story, dave *client.Session) error {
	if _, err := dave.Run(ctx, shamir.Path); err != nil {
		return err
	}
	var out bytes.Buffer
	if _, err := dave.Get(ctx, "/output/shamir.dat", &out); err != nil {
		return err
	}
	if want := s.pol.HashHex()[:16]; out.String() != want {
		return fmt.Errorf("result %q, want %q", out.Bytes(), want)
	}
	return nil
}

func scrape(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var memoryMetric = regexp.MustCompile(`(?m)^truce_host_enclave_memory_bytes\{enclave="([0-9a-f]{16}\.truce)"\} (\S+)$`)

// enclaveMemory is each enclave's runtime's resident memory, from the
// host's metrics.
func enclaveMemory(t testing.TB, url string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range memoryMetric.FindAllStringSubmatch(scrape(t, url), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatal(err)
		}
		out[m[1]] = v
	}
	return out
}

// TestPolicyDirWithLimits: one host serves a directory of policies on one
// port, each runtime under a memory limit of 768 MiB (so two runs at
// once); jobs run in every enclave, and the metrics report each one.
func TestPolicyDirWithLimits(t *testing.T) {
	m := startMany(t, 2, "--enclave-memory", "768")
	ctx := context.Background()
	for _, s := range m.stories {
		dave := prepare(t, s)
		if err := smallJob(ctx, s, dave); err != nil {
			t.Fatalf("job in %s: %v", s.pol.ServerName(), err)
		}
		dave.Close()
	}
	metrics := scrape(t, m.metrics)
	mem := enclaveMemory(t, m.metrics)
	for _, s := range m.stories {
		name := s.pol.ServerName()
		if mem[name] <= 0 {
			t.Errorf("no memory reported for %s", name)
		}
		for _, want := range []string{
			`truce_host_enclave_max_runs{enclave="` + name + `"} 2`,
			`truce_host_enclave_memory_limit_bytes{enclave="` + name + `"} 8.05306368e+08`,
			`truce_host_enclave_state{enclave="` + name + `",state="ready"} 1`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	}
}

// BenchmarkHostEnclaves measures one host serving 1, 8 and 32 enclaves:
// the resident memory per runtime, and the latency of a small job (run
// the Shamir program, read its result) with one client per enclave
// running jobs back to back. Figures: mem-MiB/enclave, p50-ms, p99-ms.
func BenchmarkHostEnclaves(b *testing.B) {
	for _, n := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("enclaves=%d", n), func(b *testing.B) {
			m := startMany(b, n)
			ctx := context.Background()
			daves := make([]*client.Session, n)
			for i, s := range m.stories {
				daves[i] = prepare(b, s)
				defer daves[i].Close()
				if err := smallJob(ctx, s, daves[i]); err != nil { // compiles the program
					b.Fatal(err)
				}
			}
			var (
				mu   sync.Mutex
				lats []time.Duration
				wg   sync.WaitGroup
			)
			// One client per enclave running jobs back to back: n jobs in
			// flight at once, b.N in all.
			b.ResetTimer()
			for i := range n {
				count := b.N / n
				if i < b.N%n {
					count++
				}
				wg.Go(func() {
					for range count {
						t0 := time.Now()
						err := smallJob(ctx, m.stories[i], daves[i])
						d := time.Since(t0)
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						lats = append(lats, d)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
			pct := func(q float64) float64 {
				if len(lats) == 0 {
					return 0
				}
				return float64(lats[min(int(q*float64(len(lats)-1)+0.5), len(lats)-1)].Microseconds()) / 1000
			}
			var total float64
			mem := enclaveMemory(b, m.metrics)
			for _, v := range mem {
				total += v
			}
			if len(mem) != n {
				b.Fatalf("memory reported for %d enclaves, want %d", len(mem), n)
			}
			hostRSS, _ := host.ProcessRSS(m.h.Process.Pid())
			b.ReportMetric(total/float64(n)/(1<<20), "mem-MiB/enclave")
			b.ReportMetric(float64(hostRSS)/(1<<20), "host-MiB")
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}
