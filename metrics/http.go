package metrics

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// HTTP counts the x402http middleware's events; set it as
// x402http.Config.Metrics. Its series:
//
//   - go402_http_payment_required_total{route}: 402 answers;
//   - go402_http_paid_requests_total{route}: requests served on a
//     verified payment;
//   - go402_http_revenue_atomic_units_total{route,network,asset}: the
//     amounts settled, in the asset's atomic units.
//
// route is the route's configured pattern, never the raw path.
type HTTP struct {
	required, paid, revenue *prometheus.CounterVec
}

var _ x402http.Recorder = (*HTTP)(nil)

// NewHTTP registers the middleware's counters on reg.
func NewHTTP(reg prometheus.Registerer) (*HTTP, error) {
	m := &HTTP{
		required: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "http", Name: "payment_required_total",
			Help: "402 Payment Required answers, by route pattern."}, []string{"route"}),
		paid: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "http", Name: "paid_requests_total",
			Help: "Requests served on a verified payment, by route pattern."}, []string{"route"}),
		revenue: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "http", Name: "revenue_atomic_units_total",
			Help: "Amounts settled, in the asset's atomic units, by route pattern, network and asset address."}, []string{"route", "network", "asset"}),
	}
	if err := register(reg, m.required, m.paid, m.revenue); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return m, nil
}

func routeLabel(route string) string {
	if route == "" {
		return Other
	}
	return route
}

// PaymentRequired implements x402http.Recorder.
func (m *HTTP) PaymentRequired(route string) { m.required.WithLabelValues(routeLabel(route)).Inc() }

// Paid implements x402http.Recorder.
func (m *HTTP) Paid(route string) { m.paid.WithLabelValues(routeLabel(route)).Inc() }

// Settled implements x402http.Recorder.
func (m *HTTP) Settled(route string, network x402.Network, asset string, amount *big.Int) {
	f, _ := new(big.Float).SetInt(amount).Float64()
	m.revenue.WithLabelValues(routeLabel(route), string(network), asset).Add(f)
}

// queueCollector reads a settlement queue's backlog when scraped.
type queueCollector struct {
	q          x402http.ExpiringQueue
	now        func() time.Time
	depth, age *prometheus.Desc
	timeout    time.Duration
}

// RegisterQueue registers, on reg, gauges read from q at every scrape:
// go402_settlement_queue_depth (settlements not finished) and
// go402_settlement_queue_oldest_age_seconds (since the oldest was
// claimed; absent when the queue is empty). now nil means time.Now.
func RegisterQueue(reg prometheus.Registerer, q x402http.ExpiringQueue, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	c := &queueCollector{q: q, now: now, timeout: 2 * time.Second,
		depth: prometheus.NewDesc(Namespace+"_settlement_queue_depth", "Queued settlements not finished yet.", nil, nil),
		age:   prometheus.NewDesc(Namespace+"_settlement_queue_oldest_age_seconds", "Age of the queued settlement closest to expiry, since it was claimed.", nil, nil),
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.age }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b, err := c.q.Backlog(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(b.Queued))
	if !b.Oldest.Claimed.IsZero() {
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, c.now().Sub(b.Oldest.Claimed).Seconds())
	}
}
