package host

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Enclave states, as reported by EnclaveStatus.State and the
// truce_host_enclave_state metric.
const (
	StateStarting  = "starting"
	StateAttesting = "attesting"
	StateReady     = "ready"
	StateStopped   = "stopped" // a principal shut it down
	StateDown      = "down"    // the runtime died or could not be attested
)

var allStates = []string{StateStarting, StateAttesting, StateReady, StateStopped, StateDown}

type metrics struct {
	reg          *prometheus.Registry
	connections  *prometheus.CounterVec
	bytes        *prometheus.CounterVec
	attestations *prometheus.CounterVec
	renewals     *prometheus.CounterVec
	state        *prometheus.GaugeVec
	active       prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.connections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "truce_host_connections_total",
		Help: "Client connections accepted, by enclave (SNI name) and outcome (relayed, refused, not_tls, dial_failed).",
	}, []string{"enclave", "outcome"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "truce_host_relayed_bytes_total",
		Help: "Bytes relayed between clients and enclaves, by enclave and direction (to_enclave, to_client).",
	}, []string{"enclave", "direction"})
	m.attestations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "truce_host_attestations_total",
		Help: "Attestations relayed to the attestation service, by enclave and outcome (ok, failed).",
	}, []string{"enclave", "outcome"})
	m.renewals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "truce_host_renewals_total",
		Help: "Certificate renewals completed, by enclave.",
	}, []string{"enclave"})
	m.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "truce_host_enclave_state",
		Help: "1 for the state each enclave is in (starting, attesting, ready, stopped, down), 0 for the others.",
	}, []string{"enclave", "state"})
	m.active = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "truce_host_active_connections",
		Help: "Client connections being relayed now.",
	})
	m.reg.MustRegister(m.connections, m.bytes, m.attestations, m.renewals, m.state, m.active,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// enclaveCollector reports, at each scrape, every enclave's limits and
// its runtime's resident memory (from /proc, when the runtime is a local
// process).
type enclaveCollector struct{ h *Host }

var (
	memoryDesc = prometheus.NewDesc("truce_host_enclave_memory_bytes",
		"Resident memory of the enclave's runtime process (absent when the launcher gives no process).", []string{"enclave"}, nil)
	memoryLimitDesc = prometheus.NewDesc("truce_host_enclave_memory_limit_bytes",
		"The enclave's memory limit (0: none).", []string{"enclave"}, nil)
	maxRunsDesc = prometheus.NewDesc("truce_host_enclave_max_runs",
		"The most program runs the enclave takes at once (0: no bound).", []string{"enclave"}, nil)
)

func (c enclaveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- memoryDesc
	ch <- memoryLimitDesc
	ch <- maxRunsDesc
}

func (c enclaveCollector) Collect(ch chan<- prometheus.Metric) {
	for _, e := range c.h.enclaves {
		e.mu.Lock()
		pid := e.pid
		e.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(memoryLimitDesc, prometheus.GaugeValue, float64(e.spec.MemoryMiB)*(1<<20), e.name)
		ch <- prometheus.MustNewConstMetric(maxRunsDesc, prometheus.GaugeValue, float64(e.spec.MaxRuns), e.name)
		if pid > 0 {
			if rss, err := ProcessRSS(pid); err == nil {
				ch <- prometheus.MustNewConstMetric(memoryDesc, prometheus.GaugeValue, float64(rss), e.name)
			}
		}
	}
}

// ProcessRSS is the resident memory of process pid in bytes, from
// /proc/PID/status.
func ProcessRSS(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			k, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS of process %d: %w", pid, err)
			}
			return k << 10, nil
		}
	}
	return 0, fmt.Errorf("process %d reports no VmRSS", pid)
}

func (m *metrics) setState(enclave, state string) {
	for _, s := range allStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.WithLabelValues(enclave, s).Set(v)
	}
}

// MetricsHandler serves the host's metrics in the Prometheus text format.
func (h *Host) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(h.m.reg, promhttp.HandlerOpts{})
}
