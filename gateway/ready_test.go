package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go402/go402/gateway"
	"github.com/go402/go402/health"
)

func readyReport(t *testing.T, base string) (int, health.Report, string) {
	t.Helper()
	r := get(t, base, "/ready")
	var rep health.Report
	if err := json.Unmarshal([]byte(r.body), &rep); err != nil {
		t.Fatalf("/ready %d %q: %v", r.status, r.body, err)
	}
	return r.status, rep, r.body
}

// /health and /ready are served before the routes (a catch-all priced
// route here), /healthz stays as the deprecated alias, and /ready runs the
// queue's check and the host's.
func TestGatewayHealthAndReady(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, fmt.Sprintf("queue: {sqlite: %s}\nroutes:\n  - {path: /*, upstream: %s, price: $1, policy: serve-then-settle}\n",
		filepath.Join(t.TempDir(), "q.db"), up.URL))
	deps := e.deps()
	deps.ReadyChecks = func() []health.Check {
		return []health.Check{{Name: "host", Run: func(context.Context) (string, error) { return "fine", nil }}}
	}
	g, err := gateway.New(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	for _, p := range []string{"/health", "/healthz", "/Health/"} {
		if r := get(t, srv.URL, p); r.status != http.StatusOK || !strings.Contains(r.body, `"status":"ok"`) {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
	}
	status, rep, body := readyReport(t, srv.URL)
	if status != http.StatusOK || len(rep.Checks) != 2 || rep.Checks[0].Name != "queue" || rep.Checks[1].Name != "host" {
		t.Fatalf("/ready: %d %s", status, body)
	}
	if up.calls.Load() != 0 {
		t.Error("a probe reached the upstream")
	}
	if i, ok := cfg.RouteFor(http.MethodGet, "/ready"); ok {
		t.Errorf("RouteFor(/ready) = %d: the probe takes it", i)
	}
}

// A remote facilitator that is down makes the gateway unready, naming the
// facilitator and not the key in its URL.
func TestGatewayReadyFacilitatorDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	up := newUpstream(t)
	cfg, err := gateway.Parse("gw.yaml", []byte(fmt.Sprintf(
		"facilitator: {url: http://%s/v2/GWSECRET7}\nnetwork: eip155:84532\npayTo: 0x000000000000000000000000000000000000dEaD\nroutes:\n  - {path: /*, upstream: %s, price: $1}\n",
		addr, up.URL)), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(t.Context(), cfg, gateway.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	status, rep, body := readyReport(t, srv.URL)
	failed := rep.Failed()
	if status != http.StatusServiceUnavailable || len(failed) != 1 || failed[0].Name != "facilitator" {
		t.Fatalf("/ready: %d %s", status, body)
	}
	if strings.Contains(body, "GWSECRET7") {
		t.Errorf("/ready shows the facilitator URL's key: %s", body)
	}
}
