package x402http_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// tokens returns the comma-separated tokens of every value of a header.
func tokens(h http.Header, key string) []string {
	var out []string
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, strings.ToLower(t))
			}
		}
	}
	return out
}

func hasTokens(h http.Header, key string, want ...string) bool {
	got := tokens(h, key)
	for _, w := range want {
		if !slices.Contains(got, strings.ToLower(w)) {
			return false
		}
	}
	return true
}

// Paid answers must not be stored by shared caches, buffered or streamed.
func TestPaidResponsesAreNotCacheable(t *testing.T) {
	s := newShop(t)
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
	mux := http.NewServeMux()
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "paid") })
	mux.HandleFunc("/public", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "paid")
	})
	mux.HandleFunc("/qualified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", `private="Set-Cookie", max-age=3600`)
		io.WriteString(w, "paid")
	})
	mux.HandleFunc("/mine", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		io.WriteString(w, "paid")
	})
	cdnHeaders := []string{"CDN-Cache-Control", "Cloudflare-CDN-Cache-Control", "Vercel-CDN-Cache-Control", "Surrogate-Control", "Edge-Control"}
	mux.HandleFunc("/cdn", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=60")
		for _, k := range cdnHeaders {
			w.Header().Set(k, "max-age=86400")
		}
		io.WriteString(w, "paid")
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: 1\n\n")
		http.NewResponseController(w).Flush()
	})
	_, srv := s.serve(t, x402http.Config{Queue: q, Routes: []x402http.Route{
		{Pattern: "GET /plain", Accepts: s.option("$0.001")},
		{Pattern: "GET /public", Accepts: s.option("$0.001")},
		{Pattern: "GET /qualified", Accepts: s.option("$0.001")},
		{Pattern: "GET /mine", Accepts: s.option("$0.001")},
		{Pattern: "GET /cdn", Accepts: s.option("$0.001")},
		{Pattern: "GET /events", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")},
	}}, mux)
	for path, want := range map[string]string{
		"/plain":     "private, no-store",
		"/public":    "private, no-store", // a shared cache would serve it unpaid
		"/qualified": "private, no-store", // private only for Set-Cookie
		"/mine":      "private, max-age=60",
		"/cdn":       "private, max-age=60", // and no directive for shared caches only
		"/events":    "private, no-store",
	} {
		unpaid := do(t, http.MethodGet, srv.URL, path, nil)
		if unpaid.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s 402: Cache-Control %q", path, unpaid.header.Get("Cache-Control"))
		}
		e := do(t, http.MethodGet, srv.URL, path, http.Header{x402.HeaderPaymentSignature: {s.payment(t, required(t, unpaid))}})
		if e.status != http.StatusOK || strings.Join(e.header.Values("Cache-Control"), "; ") != want {
			t.Errorf("%s paid: %d, Cache-Control %q, want %q", path, e.status, e.header.Values("Cache-Control"), want)
		}
		for _, k := range cdnHeaders {
			if v := e.header.Get(k); v != "" {
				t.Errorf("%s paid: %s %q reaches shared caches", path, k, v)
			}
		}
	}
}

// By default the middleware adds the x402 names to the CORS headers,
// merged with the application's, and leaves the origin policy to it.
func TestCORSDefaultsMergeWithTheApplication(t *testing.T) {
	s := newShop(t)
	mw, err := x402http.New(x402http.Config{Facilitator: s.fac, Schemes: s.schemes(t), Routes: []x402http.Route{{Pattern: "GET /api", Accepts: s.option("$0.001")}}})
	if err != nil {
		t.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Expose-Headers", "X-Trace")
		h.Set("Vary", "Origin")
		h.Set("X-Trace", "abc")
		io.WriteString(w, "data")
	})
	// An outer CORS middleware with its own origin policy.
	outer := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Origin") == "https://app.example" {
				w.Header().Set("Access-Control-Allow-Origin", "https://app.example")
				w.Header().Add("Vary", "Origin")
			}
			next.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(outer(mw.Handler(app)))
	t.Cleanup(srv.Close)
	origin := http.Header{"Origin": {"https://app.example"}}

	pre := do(t, http.MethodOptions, srv.URL, "/api", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"payment-signature"}})
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!hasTokens(pre.header, "Access-Control-Allow-Headers", "PAYMENT-SIGNATURE", "X-PAYMENT") || !hasTokens(pre.header, "Access-Control-Allow-Methods", "GET") ||
		pre.header.Get("Access-Control-Max-Age") != "600" {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	// Another origin: the middleware adds no Allow-Origin of its own.
	other := do(t, http.MethodOptions, srv.URL, "/api", http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"GET"}})
	if other.status != http.StatusNoContent || other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin: %d %v", other.status, other.header)
	}

	unpaid := do(t, http.MethodGet, srv.URL, "/api", origin)
	if unpaid.header.Get("Access-Control-Allow-Origin") != "https://app.example" || !hasTokens(unpaid.header, "Access-Control-Expose-Headers", "PAYMENT-REQUIRED", "PAYMENT-RESPONSE") {
		t.Errorf("402: %v", unpaid.header)
	}
	h := origin.Clone()
	h.Set(x402.HeaderPaymentSignature, s.payment(t, required(t, unpaid)))
	paid := do(t, http.MethodGet, srv.URL, "/api", h)
	if paid.status != http.StatusOK || paid.header.Get(x402.HeaderPaymentResponse) == "" {
		t.Fatalf("paid: %d %s", paid.status, paid.body)
	}
	// The handler's own values are kept, and so are the x402 names.
	if !hasTokens(paid.header, "Access-Control-Expose-Headers", "X-Trace", "PAYMENT-RESPONSE", "X-PAYMENT-RESPONSE") ||
		!hasTokens(paid.header, "Vary", "Origin", "Accept") || paid.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		len(paid.header.Values("Access-Control-Allow-Origin")) != 1 || paid.header.Get("X-Trace") != "abc" {
		t.Errorf("paid: %v", paid.header)
	}
}

// With CORS.AllowOrigins the middleware applies the policy itself.
func TestCORSAllowOrigins(t *testing.T) {
	s := newShop(t)
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
	_, srv := s.serve(t, x402http.Config{
		Queue: q,
		// One payer pays /stream twice before any settlement: this test
		// is about CORS, not the unsettled limit (see unsettled_test.go).
		MaxUnsettledPerPayer: -1,
		CORS:                 x402http.CORS{AllowOrigins: []string{"https://app.example"}, AllowHeaders: []string{"X-Api-Key"}, AllowCredentials: true},
		Routes: []x402http.Route{
			{Pattern: "GET /api", Accepts: s.option("$0.001")},
			{Pattern: "GET /stream", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")},
		},
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*") // overruled on priced routes
		io.WriteString(w, "data\n")
	}))
	pre := do(t, http.MethodOptions, srv.URL, "/api", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}})
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		pre.header.Get("Access-Control-Allow-Credentials") != "true" || !hasTokens(pre.header, "Vary", "Origin") ||
		!hasTokens(pre.header, "Access-Control-Allow-Headers", "X-Api-Key", "PAYMENT-SIGNATURE") {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	for _, path := range []string{"/api", "/stream"} {
		for origin, allowed := range map[string]bool{"https://app.example": true, "https://evil.example": false} {
			unpaid := do(t, http.MethodGet, srv.URL, path, http.Header{"Origin": {origin}})
			h := http.Header{"Origin": {origin}, x402.HeaderPaymentSignature: {s.payment(t, required(t, unpaid))}}
			paid := do(t, http.MethodGet, srv.URL, path, h)
			for name, e := range map[string]exchange{"402": unpaid, "paid": paid} {
				got := e.header.Values("Access-Control-Allow-Origin")
				if (allowed && (len(got) != 1 || got[0] != origin)) || (!allowed && len(got) != 0) {
					t.Errorf("%s %s from %s: Allow-Origin %q", path, name, origin, got)
				}
			}
			if paid.status != http.StatusOK {
				t.Errorf("%s paid: %d", path, paid.status)
			}
		}
	}
	if _, err := x402http.New(x402http.Config{Facilitator: s.fac, CORS: x402http.CORS{AllowOrigins: []string{"https://a.example, https://b.example"}}}); err == nil {
		t.Error("a list in one origin was accepted")
	}
	if _, err := x402http.New(x402http.Config{Facilitator: s.fac, CORS: x402http.CORS{AllowOrigins: []string{"*"}, AllowCredentials: true}}); err == nil {
		t.Error(`"*" with credentials was accepted: any page could read paid answers with the visitor's cookies`)
	}
}

// Paid responses stream through serve-then-settle with the x402 headers.
func TestStreamedPaidResponseHeaders(t *testing.T) {
	s := newShop(t)
	pr := s.offer(t, "/stream")
	resp := s.get(t, "/stream", http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}})
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: tick 0\n" || resp.Header.Get("Cache-Control") != "private, no-store" ||
		!hasTokens(resp.Header, "Access-Control-Expose-Headers", "PAYMENT-RESPONSE") {
		t.Fatalf("%q %v %v", line, err, resp.Header)
	}
}
