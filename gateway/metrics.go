package gateway

import (
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go402/go402/metrics"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// MetricsPath is where the gateway serves its Prometheus metrics (GET),
// ahead of its routes.
const MetricsPath = "/metrics"

// gatewayMetrics is a gateway's registry and middleware counters, kept
// across reloads.
type gatewayMetrics struct {
	reg  *prometheus.Registry
	http *metrics.HTTP
}

func newGatewayMetrics() (*gatewayMetrics, error) {
	reg := metrics.NewRegistry()
	h, err := metrics.NewHTTP(reg)
	if err != nil {
		return nil, err
	}
	return &gatewayMetrics{reg: reg, http: h}, nil
}

// recorder counts the events of the route whose path is route (the
// configured path, never the request's).
func (m *gatewayMetrics) recorder(route string) routeRecorder {
	return routeRecorder{m: m.http, route: route}
}

// routeRecorder is the x402http.Recorder of one gateway route: the
// middleware of each route sees the pattern "/*", so the route's
// configured path replaces it.
type routeRecorder struct {
	m     *metrics.HTTP
	route string
}

func (r routeRecorder) PaymentRequired(string) { r.m.PaymentRequired(r.route) }
func (r routeRecorder) Paid(string)            { r.m.Paid(r.route) }
func (r routeRecorder) Settled(_ string, network x402.Network, asset string, amount *big.Int) {
	r.m.Settled(r.route, network, asset, amount)
}

// watchQueue adds the settlement queue's depth and oldest age, when q
// reports its backlog (it is opened once per gateway).
func (m *gatewayMetrics) watchQueue(q x402http.Queue, now func() time.Time, log *slog.Logger) {
	eq, ok := q.(x402http.ExpiringQueue)
	if !ok {
		return
	}
	if err := metrics.RegisterQueue(m.reg, eq, now); err != nil {
		log.Warn("the settlement queue's metrics are unavailable", "err", err)
	}
}

// settlerRecorder counts the settlements of the gateway's queue worker,
// under the path of the route (in the current configuration) that serves
// each one's resource.
type settlerRecorder struct{ g *Gateway }

func (settlerRecorder) PaymentRequired(string) {}
func (settlerRecorder) Paid(string)            {}
func (s settlerRecorder) Settled(route string, network x402.Network, asset string, amount *big.Int) {
	s.g.metrics.http.Settled(route, network, asset, amount)
}

// RouteOfResource implements x402http.ResourceRouter.
func (s settlerRecorder) RouteOfResource(resourceURL string) string {
	u, err := url.Parse(resourceURL)
	if err != nil {
		return ""
	}
	st := s.g.cur.Load()
	if st == nil {
		return ""
	}
	cfg := st.cfg
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if i, ok := cfg.RouteFor(m, u.Path); ok {
			return cfg.Routes[i].Path
		}
	}
	return ""
}

// MetricsHandler serves the gateway's Prometheus metrics, for a separate
// listen address.
func (g *Gateway) MetricsHandler() http.Handler { return metrics.Handler(g.metrics.reg) }

// MetricsRegistry is the gateway's Prometheus registry, on which a host
// may register its own collectors.
func (g *Gateway) MetricsRegistry() *prometheus.Registry { return g.metrics.reg }

// serveMetrics answers GET MetricsPath, reporting whether it did.
func (g *Gateway) serveMetrics(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != MetricsPath || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return false
	}
	metrics.Handler(g.metrics.reg).ServeHTTP(w, r)
	return true
}
