package gateway_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
)

// Upstreams such as Tomcat (";" path parameters), Spring (".json"
// suffixes) and servers that trim trailing whitespace map more paths to a
// resource than its route spells: none of these spellings of a priced
// path may reach the upstream through a later free wildcard.
func TestLenientSpellingsOfAPricedPath(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, fmt.Sprintf(`
routes:
  - path: GET /api/premium
    upstream: %[1]s
    price: "$1"
  - path: GET /api/reports/{id}/full
    upstream: %[1]s
    price: "$2"
  - path: GET /api/*
    upstream: %[1]s
    shadowsPriced: true
`, up.URL))
	_, srv := e.start(t, cfg)
	for _, c := range []struct {
		path   string
		status int
	}{
		// Path parameters and suffixes: charged as the priced route.
		{"/api/premium;jsessionid=1", http.StatusPaymentRequired},
		{"/api/premium;a=b;c=d", http.StatusPaymentRequired},
		{"/api;x=1/premium", http.StatusPaymentRequired},
		{"/api/premium.json", http.StatusPaymentRequired},
		{"/api/premium.xml", http.StatusPaymentRequired},
		{"/API/Premium.tar.gz", http.StatusPaymentRequired},
		{"/api/premium.json;x=1", http.StatusPaymentRequired},
		{"/api/premium;x=1.json", http.StatusPaymentRequired},
		{"/api/premium%3Bx", http.StatusPaymentRequired},
		{"/api/reports/7;v=1/full", http.StatusPaymentRequired},
		{"/api/reports/7/full.json", http.StatusPaymentRequired},
		// Trailing whitespace or control characters: refused.
		{"/api/premium%20", http.StatusBadRequest},
		{"/api/premium%09", http.StatusBadRequest},
		{"/api/premium%0A", http.StatusBadRequest},
		{"/api/premium%00", http.StatusBadRequest},
		{"/api/premium%C2%A0", http.StatusBadRequest},
		{"/api/premium;x%20", http.StatusPaymentRequired},
		{"/api/premium.json%20", http.StatusBadRequest},
		{"/api/premium%20/", http.StatusBadRequest},
	} {
		if r := get(t, srv.URL, c.path); r.status != c.status {
			t.Errorf("GET %s: %d %s, want %d", c.path, r.status, r.body, c.status)
		}
		decoded, err := url.PathUnescape(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if i, ok := cfg.RouteFor(http.MethodGet, decoded); ok && i == 2 {
			t.Errorf("RouteFor(GET, %s) is the free route", c.path)
		}
	}
	if n := up.calls.Load(); n != 0 {
		t.Fatalf("the upstream was reached %d times without payment", n)
	}
	// Other paths, suffixed or not, stay free.
	for _, p := range []string{"/api/other", "/api/other.json", "/api/premiums", "/api/premium-x.json", "/api/a%20b", "/api/.premium"} {
		if r := get(t, srv.URL, p); r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s, want the free route", p, r.status, r.body)
		}
	}
	// A priced suffixed path is paid for at the priced route's price, and
	// the upstream gets the path as sent.
	pr := required(t, get(t, srv.URL, "/api/premium.json"))
	if got := pr.Accepts[0].Amount.String(); got != "1000000" {
		t.Errorf("/api/premium.json is priced %s, want the priced route's 1000000", got)
	}
	paid := send(t, http.MethodGet, srv.URL, "/api/premium.json", e.sign(t, pr))
	if paid.status != http.StatusOK || up.lastRequest().URL.Path != "/api/premium.json" {
		t.Fatalf("paid: %d %s", paid.status, paid.body)
	}
}

// A lenient spelling of a path priced for other methods only gets 405, as
// the path itself does, rather than a later free route.
func TestLenientSpellingOtherMethod(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, fmt.Sprintf(`
routes:
  - path: POST /api/premium
    upstream: %[1]s
    price: "$1"
  - path: /api/*
    upstream: %[1]s
    shadowsPriced: true
`, up.URL))
	_, srv := e.start(t, cfg)
	for _, p := range []string{"/api/premium.json", "/api/premium;x=1"} {
		r := send(t, http.MethodGet, srv.URL, p, nil)
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("GET %s: %d (Allow %q), want 405 with Allow: POST", p, r.status, r.header.Get("Allow"))
		}
	}
	if n := up.calls.Load(); n != 0 {
		t.Fatalf("the upstream was reached %d times", n)
	}
}
