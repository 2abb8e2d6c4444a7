package host

import (
	"net/http"

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
