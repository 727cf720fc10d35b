package x402http_test

import (
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// An encoded slash must not buy one route's resource at another route's
// price: GET /a/{x} costs $0.001, GET /a/b/c costs $10, and /a/b%2Fc is
// /a/{x} to ServeMux but /a/b/c to http.FileServer.
func TestEncodedSlashCannotSelectACheaperRoute(t *testing.T) {
	s := newShop(t)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a", "b", "c"), []byte("TEN DOLLAR CONTENT"), 0o644); err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	files := http.FileServer(http.Dir(root))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		files.ServeHTTP(w, r)
	})
	_, srv := s.serve(t, x402http.Config{Routes: []x402http.Route{
		{Pattern: "GET /a/{x}", Accepts: s.option("$0.001")},
		{Pattern: "GET /a/b/c", Accepts: s.option("$10")},
		{Pattern: "GET /files/{name}", Accepts: s.option("$0.002")},
		{Pattern: "POST /m/b/c", Accepts: s.option("$10")},
		{Pattern: "GET /m/{x}", Accepts: s.option("$0.001")},
	}}, h)

	// Unambiguous paths are priced by their own route.
	for path, want := range map[string]int64{
		"/a/x":        1000,
		"/a/b/c":      10_000_000,
		"/A/B/C/":     10_000_000,
		"/a/b%2Fc":    -1, // ambiguous: refused
		"/a/b%2fc":    -1,
		"/a/b%5Cc":    -1,
		"/a/b\\c":     -1,
		"/x/../a/b/c": 10_000_000,
		// The decoded reading matches no route, the escaped one matches
		// /files/{name}: that route is charged.
		"/files/2024%2Fq1": 2000,
		// One reading is priced for POST only, the other is GET /m/{x}.
		"/m/b%2Fc": -1,
	} {
		e := do(t, http.MethodGet, srv.URL, path, nil)
		if want < 0 {
			if e.status != http.StatusBadRequest || e.header.Get(x402.HeaderPaymentRequired) != "" || strings.Contains(e.body, "TEN DOLLAR") {
				t.Errorf("%s: status %d body %q, want 400", path, e.status, e.body)
			}
			continue
		}
		if got := required(t, e).Accepts[0].Amount; got != x402.NewAmount(uint64(want)) {
			t.Errorf("%s: priced %s, want %d", path, got, want)
		}
	}

	// A payment made for the cheap route does not buy the dear file
	// through the encoded slash: refused before verification, nothing moves.
	before := s.balance(t)
	cheap := required(t, do(t, http.MethodGet, srv.URL, "/a/x", nil))
	e := do(t, http.MethodGet, srv.URL, "/a/b%2Fc", http.Header{x402.HeaderPaymentSignature: {s.payment(t, cheap)}})
	if e.status != http.StatusBadRequest || strings.Contains(e.body, "TEN DOLLAR") {
		t.Fatalf("cheap payment on /a/b%%2Fc: %d %q", e.status, e.body)
	}
	if served.Load() != 0 {
		t.Fatalf("the handler ran %d times without the right payment", served.Load())
	}
	if s.balance(t).Cmp(before) != 0 {
		t.Fatal("funds moved")
	}
	// Paid at its own price, the file is served and charged.
	dear := required(t, do(t, http.MethodGet, srv.URL, "/a/b/c", nil))
	e = do(t, http.MethodGet, srv.URL, "/a/b/c", http.Header{x402.HeaderPaymentSignature: {s.payment(t, dear)}})
	if e.status != http.StatusOK || e.body != "TEN DOLLAR CONTENT" {
		t.Fatalf("paid: %d %q", e.status, e.body)
	}
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(10_000_000)) != 0 {
		t.Fatalf("payee received %s", got)
	}
}

func TestMethodsOfPricedPaths(t *testing.T) {
	s := newShop(t)
	var calls atomic.Int64
	_, srv := s.serve(t, x402http.Config{Routes: []x402http.Route{
		{Pattern: "GET /doc", Accepts: s.option("$0.001")},
		{Pattern: "post /doc", Accepts: s.option("$0.002")},
		{Pattern: "GET /only-get", Accepts: s.option("$0.001")},
	}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "content")
	}))
	// Methods are matched in any letter case; HEAD is priced as GET.
	for method, want := range map[string]uint64{"GET": 1000, "get": 1000, "Get": 1000, "HEAD": 1000, "head": 1000, "POST": 2000, "post": 2000} {
		e := do(t, method, srv.URL, "/doc", nil)
		if method == "HEAD" || method == "head" {
			if e.status != http.StatusPaymentRequired {
				t.Errorf("%s /doc: %d", method, e.status)
			}
			continue
		}
		if got := required(t, e).Accepts[0].Amount; got != x402.NewAmount(want) {
			t.Errorf("%s /doc: priced %s, want %d", method, got, want)
		}
	}
	// Other methods on a priced path get 405 with Allow, never the handler.
	for _, method := range []string{"PUT", "DELETE", "patch", "OPTIONS"} {
		e := do(t, method, srv.URL, "/only-get", nil)
		if e.status != http.StatusMethodNotAllowed || e.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /only-get: %d, Allow %q", method, e.status, e.header.Get("Allow"))
		}
	}
	if calls.Load() != 0 {
		t.Fatalf("the handler ran %d times unpaid", calls.Load())
	}
}

// A pattern that no cleaned request path could match would leave its
// resource free: New refuses it, as it refuses other malformed patterns.
func TestNewRefusesBadPatterns(t *testing.T) {
	opt := []x402http.PaymentOption{{Network: "eip155:84532", Amount: x402.NewAmount(1000), Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", Extra: x402.Object(`{"name":"USDC","version":"2"}`), PayTo: "0x0000000000000000000000000000000000000001"}}
	newWith := func(pattern string) error {
		_, err := x402http.New(x402http.Config{Facilitator: &acceptAll{}, Schemes: evm.ServerSchemes(nil), Routes: []x402http.Route{{Pattern: pattern, Accepts: opt}}})
		return err
	}
	for _, p := range []string{"/ok", "get /a/{x}/*", "M-SEARCH /upnp", "/.well-known/x"} {
		if err := newWith(p); err != nil {
			t.Fatalf("pattern %q: %v", p, err)
		}
	}
	for _, p := range []string{"", "a/b", "/a /b", "/premium//report", "/a/../b", "/a/./b", "/a\\b", "/a/{}", "/a/:", "/a/*/b"} {
		if err := newWith(p); err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("x402http: route %q: ", p)) {
			t.Errorf("pattern %q: %v", p, err)
		}
	}
}
