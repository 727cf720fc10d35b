// Package metrics exports go402's Prometheus metrics: the facilitator's
// verifies and settlements, and the x402http middleware's 402s, paid
// requests, revenue and settlement queue. The facilitator's chain RPC
// calls and signer balances are in package chainmetrics, which depends on
// go-ethereum; this package does not.
//
// Every collector is registered on a registry the caller passes (one per
// server, see [NewRegistry]); nothing is registered on the process-wide
// default registry. Label values are bounded: schemes and networks come
// from what a facilitator supports, routes from configured patterns,
// assets from configuration, and reason codes from the fixed x402 set
// (any other code is counted as "other"). Payer addresses are never
// labels.
package metrics

//go:generate sh genreasons.sh

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every go402 metric name.
const Namespace = "go402"

// Other is the label value of a scheme, network, route or reason outside
// the bounded set.
const Other = "other"

// NewRegistry returns a new registry with the Go runtime and process
// collectors registered, for one server.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the metrics of g in the Prometheus text format (GET
// /metrics).
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Path is where [WithPath] serves the metrics.
const Path = "/metrics"

// WithPath answers GET and HEAD [Path] with the metrics of g, and passes
// every other request to h unchanged.
func WithPath(h http.Handler, g prometheus.Gatherer) http.Handler {
	mh := Handler(g)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Path && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			mh.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// reason bounds a reason code label value.
func reason(s string) string {
	switch {
	case s == "":
		return ""
	case knownReason(s):
		return s
	}
	return Other
}

// bounded returns v when set allows it, else Other.
func bounded(set map[string]bool, v string) string {
	if set[v] {
		return v
	}
	return Other
}

// register registers cs on reg, stopping at the first error.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// LatencyBuckets are the histogram buckets of go402's latencies, in
// seconds: from a verify (milliseconds) to a settlement (a block or more).
func LatencyBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
}
