package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go402/go402/metrics"
	"github.com/go402/go402/x402http"
)

// serveMetrics serves h (GET /metrics) on its own listen address addr
// until stop is called, returning the metrics URL. With addr "" it does
// nothing and returns base + "/metrics", the main listener's.
func serveMetrics(ctx context.Context, addr, base string, h http.Handler, log *slog.Logger) (url string, stop func(), err error) {
	if addr == "" {
		return base + "/metrics", func() {}, nil
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metricsListen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := newServer(mux, serverLimits{Read: 10 * time.Second, Write: 30 * time.Second}, log, nil)
	go func() { _ = srv.Serve(ln) }()
	url = listenURL(ln.Addr()) + "/metrics"
	log.Info("metrics listening", "url", url)
	return url, func() { _ = srv.Close() }, nil
}

// apiMetrics is the registry of a paid API (the dev stack's) and the
// middleware's counters on it; the settlement queue's backlog too, when
// the queue reports one.
func apiMetrics(queue x402http.Queue) (*prometheus.Registry, *metrics.HTTP, error) {
	reg := metrics.NewRegistry()
	rec, err := metrics.NewHTTP(reg)
	if err != nil {
		return nil, nil, err
	}
	if eq, ok := queue.(x402http.ExpiringQueue); ok {
		if err := metrics.RegisterQueue(reg, eq, nil); err != nil {
			return nil, nil, err
		}
	}
	return reg, rec, nil
}

// withMetricsPath answers GET /metrics from g, the rest from h.
func withMetricsPath(h http.Handler, g prometheus.Gatherer) http.Handler {
	return metrics.WithPath(h, g)
}
