package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

// A method in any letter case is priced like its upper-case form, and a
// path a priced route has for other methods never falls through to a later
// free route.
func TestMethodsCannotSkipThePaidRoute(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, fmt.Sprintf(`
routes:
  - path: GET /api/premium/*
    upstream: %[1]s
    price: "$1"
  - path: /api/*
    upstream: %[1]s
    shadowsPriced: true
`, up.URL))
	_, srv := e.start(t, cfg)
	// Config.RouteFor (which go402 gateway --info-file uses to list
	// endpoints) decides as the running gateway does.
	for _, c := range []struct {
		method, path string
		route        int // -1: no route serves it
	}{
		{"get", "/api/premium/x", 0}, {"HEAD", "/API/Premium/x", 0}, {"POST", "/api/premium/x", -1},
		{"post", "/api/other", 1}, {"GET", cfg.HealthPath, -1}, {"GET", "/elsewhere", -1},
	} {
		i, ok := cfg.RouteFor(c.method, c.path)
		if !ok {
			i = -1
		}
		if i != c.route {
			t.Errorf("RouteFor(%s, %s) = %d, want %d", c.method, c.path, i, c.route)
		}
	}
	for _, m := range []string{"GET", "get", "Get", "HEAD", "head"} {
		if r := send(t, m, srv.URL, "/api/premium/x", nil); r.status != http.StatusPaymentRequired {
			t.Errorf("%s /api/premium/x: %d %s", m, r.status, r.body)
		}
	}
	for _, m := range []string{"POST", "put", "DELETE", "OPTIONS"} {
		r := send(t, m, srv.URL, "/api/premium/x", nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /api/premium/x: %d (Allow %q), want 405", m, r.status, r.header.Get("Allow"))
		}
	}
	if n := up.calls.Load(); n != 0 {
		t.Fatalf("the upstream was reached %d times without payment", n)
	}
	// A preflight for GET is the priced route's, answered by the gateway.
	pre := send(t, http.MethodOptions, srv.URL, "/api/premium/x", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}})
	if pre.status != http.StatusNoContent || !strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), x402.HeaderPaymentSignature) || up.calls.Load() != 0 {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	// Other paths under the free route stay free, in any method.
	if r := send(t, "post", srv.URL, "/api/other", nil); r.status != http.StatusOK || up.calls.Load() != 1 {
		t.Fatalf("free route: %d %s", r.status, r.body)
	}
	if in := up.lastRequest(); in.Method != http.MethodPost {
		t.Errorf("the upstream got method %q", in.Method)
	}
	// Paid, a lower-case get reaches the upstream as GET.
	pr := required(t, send(t, "get", srv.URL, "/api/premium/x", nil))
	paid := send(t, "get", srv.URL, "/api/premium/x", e.sign(t, pr))
	if paid.status != http.StatusOK || up.calls.Load() != 2 || up.lastRequest().Method != http.MethodGet {
		t.Fatalf("paid: %d %s", paid.status, paid.body)
	}
}

// Paid files are not cacheable by shared caches; free ones are untouched.
func TestPaidFilesAreNotCacheable(t *testing.T) {
	e := newEnv(t)
	root, pdf := files(t)
	_, srv := e.start(t, e.config(t, dirConfig(root)))
	r, _ := e.pay(t, srv.URL, "/reports/q1.pdf")
	if r.status != http.StatusOK || r.body != string(pdf) || r.header.Get("Cache-Control") != "private, no-store" {
		t.Fatalf("paid file: %d, Cache-Control %q", r.status, r.header.Get("Cache-Control"))
	}
	if free := get(t, srv.URL, "/public/hello.txt"); free.status != http.StatusOK || free.header.Get("Cache-Control") != "" || free.header.Get("Last-Modified") == "" {
		t.Fatalf("free file: %d %v", free.status, free.header)
	}
}

// A reload builds new middlewares, but the payments being served are
// shared: a copy of a payment in flight is refused by the new
// configuration too.
func TestReloadKeepsPaymentsInFlight(t *testing.T) {
	e := newEnv(t)
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	var calls atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		entered <- struct{}{}
		<-release
		io.WriteString(w, "slow answer")
	}))
	t.Cleanup(slow.Close)
	cfg := func(desc string) string {
		return fmt.Sprintf("routes:\n  - path: /api/*\n    upstream: %s\n    price: $0.001\n    description: %s\n", slow.URL, desc)
	}
	g, srv := e.start(t, e.config(t, cfg("one")))
	pr := required(t, get(t, srv.URL, "/api/x"))
	pay := e.sign(t, pr)
	first := make(chan response, 1)
	go func() { first <- send(t, http.MethodGet, srv.URL, "/api/x", pay) }()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the first paid request did not reach the upstream")
	}
	if err := g.Reload(t.Context(), e.config(t, cfg("two"))); err != nil {
		t.Fatal(err)
	}
	copyResp := send(t, http.MethodGet, srv.URL, "/api/x", pay)
	close(release)
	if copyResp.status != http.StatusPaymentRequired {
		t.Fatalf("copy after the reload: %d %s", copyResp.status, copyResp.body)
	}
	if f := <-first; f.status != http.StatusOK || f.body != "slow answer" {
		t.Fatalf("first: %d %s", f.status, f.body)
	}
	if calls.Load() != 1 {
		t.Fatalf("the upstream served %d times for one payment", calls.Load())
	}
}

func TestCORSConfig(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	_, srv := e.start(t, e.config(t, fmt.Sprintf(`
cors:
  allowOrigins: [https://app.example]
  allowHeaders: [X-Api-Key]
  maxAgeSeconds: 60
routes:
  - path: /api/*
    upstream: %s
    price: $0.001
`, up.URL)))
	pre := send(t, http.MethodOptions, srv.URL, "/api/x", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}})
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "X-Api-Key") || pre.header.Get("Access-Control-Max-Age") != "60" {
		t.Fatalf("preflight: %d %v", pre.status, pre.header)
	}
	if r := send(t, http.MethodGet, srv.URL, "/api/x", http.Header{"Origin": {"https://evil.example"}}); r.status != http.StatusPaymentRequired || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %v", r.status, r.header)
	}
	for _, bad := range []string{"cors: {allowOrigins: [https://app.example/path]}", "cors: {allowOrigins: [app.example]}", "cors: {allowHeaders: [\"X Bad\"]}", "cors: {maxAgeSeconds: -1}", "cors: {allowOrigin: [x]}"} {
		c, err := gateway.Parse("gw.yaml", []byte(bad+"\nroutes:\n  - {path: /x/*, upstream: http://127.0.0.1:1}\n"), nil)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), "cors") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
