package gateway_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

func TestRateLimitConfig(t *testing.T) {
	const head = "network: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {url: https://f.example}\n"
	c, err := gateway.Parse("gw.yaml", []byte(head+`rateLimits:
  trustedProxies: [10.0.0.0/8, "::1"]
  perIP: {requests: 60, per: 1m, burst: 10}
  free: {requests: 3, window: 24h}
routes:
  - path: /a
    upstream: http://u
    price: $0.01
    rateLimits: {perPayer: {requests: 5, per: 1h}, maxEntries: 1000}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	l, r := c.RateLimits, c.Routes[0].RateLimits
	if len(l.TrustedProxies) != 2 || l.PerIP != (gateway.Limit{Requests: 60, Per: time.Minute, Burst: 10}) || l.Free != (gateway.FreeTier{Requests: 3, Window: 24 * time.Hour}) ||
		r.PerPayer != (gateway.Limit{Requests: 5, Per: time.Hour}) || r.MaxEntries != 1000 {
		t.Fatalf("decoded %+v, route %+v", l, r)
	}

	route := "routes:\n  - path: /a\n    upstream: http://u\n    price: $1\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"proxy", "rateLimits:\n  trustedProxies: [10.0.0.0/33]\n" + route, "gw.yaml:5: rateLimits.trustedProxies[0]: must be an IP address or a network"},
		{"per missing", "rateLimits:\n  perIP: {requests: 5}\n" + route, "gw.yaml:5: rateLimits.perIP: per is required"},
		{"negative burst", "rateLimits:\n  perPayer: {requests: 5, per: 1m, burst: -1}\n" + route, "gw.yaml:5: rateLimits.perPayer: requests and burst must not be negative"},
		{"free window", route + "    rateLimits:\n      free: {requests: 2}\n", "gw.yaml:9: routes[0].rateLimits.free: window is required"},
		{"per duration", route + "    rateLimits:\n      perIP: {requests: 2, per: 60}\n", "gw.yaml:9: routes[0].rateLimits.perIP.per: must be a duration with a unit"},
		{"unknown key", route + "    rateLimits:\n      perIp: {requests: 2, per: 1m}\n", "gw.yaml:9: routes[0].rateLimits.perIp: unknown key (did you mean perIP?)"},
		{"route proxies", route + "    rateLimits:\n      trustedProxies: [10.0.0.1]\n", "gw.yaml:9: routes[0].rateLimits.trustedProxies: unknown key"},
		{"free route", "routes:\n  - path: /a\n    upstream: http://u\n    rateLimits: {free: {requests: 1, window: 1h}}\n", "gw.yaml:7: routes[0].rateLimits: only applies to priced routes"},
		{"max entries", "rateLimits: {maxEntries: -5}\n" + route, "gw.yaml:4: rateLimits.maxEntries: must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := gateway.Parse("gw.yaml", []byte(head+tc.yaml), nil)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error:\n%v\nwant one containing:\n%s", err, tc.want)
			}
			var fe *gateway.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%T is not a *FieldError", err)
			}
		})
	}
}

// TestRateLimitGateway: shared per-IP limits across routes, a route's free
// tier, a route's per-payer limit (the limited payment is not charged),
// and client addresses taken from a trusted proxy's X-Forwarded-For.
func TestRateLimitGateway(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, fmt.Sprintf(`rateLimits:
  trustedProxies: [127.0.0.1]
  perIP: {requests: 3, per: 1m}
routes:
  - path: /a
    upstream: %[1]s
    price: $0.001
    rateLimits: {free: {requests: 1, window: 1h}}
  - path: /b
    upstream: %[1]s
    price: $0.001
    rateLimits: {perPayer: {requests: 1, per: 1m}}
  - path: /open
    upstream: %[1]s
`, up.URL))
	_, srv := e.start(t, cfg)
	from := func(ip string, h http.Header) http.Header {
		if h == nil {
			h = http.Header{}
		}
		h.Set("X-Forwarded-For", ip)
		return h
	}
	var got []int
	for _, p := range []string{"/a", "/a", "/b", "/b"} {
		got = append(got, send(t, http.MethodGet, srv.URL, p, from("198.51.100.1", nil)).status)
	}
	if fmt.Sprint(got) != "[200 402 402 429]" || up.calls.Load() != 1 {
		t.Fatalf("one client: %v (upstream called %d times), want a free request, two 402s, then the shared limit", got, up.calls.Load())
	}
	if r := send(t, http.MethodGet, srv.URL, "/a", from("198.51.100.2", nil)); r.status != 200 {
		t.Fatalf("another client's free request: %d", r.status)
	}
	for range 5 {
		if r := send(t, http.MethodGet, srv.URL, "/open", from("198.51.100.1", nil)); r.status != 200 {
			t.Fatalf("a free route is not limited: %d", r.status)
		}
	}

	pr := required(t, send(t, http.MethodGet, srv.URL, "/b", from("203.0.113.1", nil)))
	if r := send(t, http.MethodGet, srv.URL, "/b", from("203.0.113.2", e.sign(t, pr))); r.status != 200 {
		t.Fatalf("paid: %d %s", r.status, r.body)
	}
	paid := e.balance(t, e.payTo)
	r := send(t, http.MethodGet, srv.URL, "/b", from("203.0.113.3", e.sign(t, pr)))
	if r.status != 429 || r.header.Get("Retry-After") != "60" || r.header.Get(x402.HeaderPaymentResponse) != "" {
		t.Fatalf("the payer's second payment within a minute: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if e.balance(t, e.payTo).Cmp(paid) != 0 {
		t.Fatal("the limited payment was charged")
	}
}
