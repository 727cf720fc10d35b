package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
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
