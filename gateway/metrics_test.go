package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
)

// A paid request through the gateway shows on its /metrics under the
// route's configured path: one 402, one paid request, the price as
// revenue; a thousand raw paths of the route make one series.
func TestGatewayMetrics(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	_, srv := e.start(t, e.config(t, fmt.Sprintf(`
routes:
  - path: /api/*
    upstream: %s
    price: $0.001
`, up.URL)))
	r, req := e.pay(t, srv.URL, "/api/weather")
	if r.status != http.StatusOK {
		t.Fatalf("paid: %d %s", r.status, r.body)
	}
	for i := range 20 {
		required(t, get(t, srv.URL, fmt.Sprintf("/api/x%d", i)))
	}
	m := get(t, srv.URL, "/metrics")
	if m.status != http.StatusOK {
		t.Fatalf("/metrics: %d", m.status)
	}
	var p expfmt.TextParser
	mf, err := p.TextToMetricFamilies(strings.NewReader(m.body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	want := map[string]string{
		"go402_http_payment_required_total":     `{route="/api/*"} 21`,
		"go402_http_paid_requests_total":        `{route="/api/*"} 1`,
		"go402_http_revenue_atomic_units_total": fmt.Sprintf(`{asset="%s",network="%s",route="/api/*"} 1000`, req.Asset, req.Network),
	}
	for name, w := range want {
		f := mf[name]
		if f == nil || len(f.Metric) != 1 {
			t.Errorf("%s: %v, want one series", name, f)
			continue
		}
		var labels []string
		for _, l := range f.Metric[0].Label {
			labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		got := fmt.Sprintf("{%s} %g", strings.Join(labels, ","), f.Metric[0].Counter.GetValue())
		if got != w {
			t.Errorf("%s = %s, want %s", name, got, w)
		}
	}
}

// A serve-then-settle payment waits in the queue: /metrics shows it, and
// no revenue until it settles.
func TestGatewayQueueMetrics(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	g, srv := e.start(t, e.config(t, fmt.Sprintf(`
queue: {sqlite: %s/q.db}
routes:
  - path: /s/*
    upstream: %s
    price: $0.001
    policy: serve-then-settle
`, t.TempDir(), up.URL)))
	if r, _ := e.pay(t, srv.URL, "/s/a"); r.status != http.StatusOK {
		t.Fatalf("paid: %d %s", r.status, r.body)
	}
	m := get(t, srv.URL, "/metrics")
	var p expfmt.TextParser
	mf, err := p.TextToMetricFamilies(strings.NewReader(m.body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	if f := mf["go402_settlement_queue_depth"]; f == nil || len(f.Metric) != 1 || f.Metric[0].Gauge.GetValue() != 1 {
		t.Errorf("queue depth %v, want 1", f)
	}
	if f := mf["go402_settlement_queue_oldest_age_seconds"]; f == nil || len(f.Metric) != 1 || f.Metric[0].Gauge.GetValue() < 0 {
		t.Errorf("oldest age %v, want one sample >= 0", f)
	}
	if f := mf["go402_http_paid_requests_total"]; f == nil || f.Metric[0].Counter.GetValue() != 1 {
		t.Errorf("paid requests %v, want 1", f)
	}
	if f := mf["go402_http_revenue_atomic_units_total"]; f != nil && len(f.Metric) != 0 {
		t.Errorf("revenue before the settlement: %v", f)
	}

	// Once the worker settles it, the revenue shows under the route.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.RunSettlements(ctx) }()
	defer func() { cancel(); <-done }()
	want := `go402_http_revenue_atomic_units_total{asset="`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		body := get(t, srv.URL, "/metrics").body
		if i := strings.Index(body, want); i >= 0 {
			line := body[i : i+strings.Index(body[i:], "\n")]
			if !strings.Contains(line, `route="/s/*"`) || !strings.HasSuffix(line, " 1000") {
				t.Errorf("revenue %s, want 1000 on route /s/*", line)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no revenue after the settlement:\n%s", body)
		}
	}
}
