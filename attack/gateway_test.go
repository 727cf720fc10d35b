package attack_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/gateway"
)

// TestGatewayPathVariants: a priced `GET /api/premium` before a free
// `GET /api/*`. Spellings of the priced path that upstream frameworks
// commonly read as /api/premium (a ;jsessionid parameter, a format
// suffix, a trailing encoded space, another letter case, a doubled slash,
// a dot segment) must not reach the upstream free: the gateway answers 402
// or refuses with 4xx, never the upstream's 200 without payment.
func TestGatewayPathVariants(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 3})
	svc := c.facilitator(t, facOptions{})
	var reached atomic.Int64
	upstream := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		fmt.Fprintf(w, "upstream %s", r.URL.EscapedPath())
	}))
	yaml := fmt.Sprintf(`facilitator: {embedded: {devnet: true}}
network: %s
payTo: %s
routes:
  - path: GET /api/premium
    upstream: %[3]s
    price: %[4]s
  - path: GET /api/*
    upstream: %[3]s
`, c.network, c.payee.Hex(), upstream, price)
	// The free wildcard that catches the priced path's other spellings is
	// refused unless the configuration says the overlap is intended...
	deps := gateway.Deps{Facilitator: svc.Facilitator(), Networks: []evm.NetworkConfig{c.dev.NetworkConfig()}}
	if cfg, err := gateway.Parse("gateway.yaml", []byte(yaml), nil); err == nil {
		if g, err := gateway.New(t.Context(), cfg, deps); err == nil {
			_ = g.Close()
			t.Errorf("a free GET /api/* after a priced GET /api/premium was accepted without shadowsPriced")
		}
	}
	// ...and even then, the spellings are not free.
	yaml += "    shadowsPriced: true\n"
	cfg, err := gateway.Parse("gateway.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, yaml)
	}
	g, err := gateway.New(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	url := serveHTTP(t, g)
	if a := rawGet(t, url, "/api/premium"); a.status != http.StatusPaymentRequired {
		t.Fatalf("/api/premium unpaid: %d", a.status)
	}
	if a := rawGet(t, url, "/api/free"); a.status != http.StatusOK {
		t.Fatalf("/api/free: %d", a.status)
	}
	for _, path := range []string{
		"/api/premium;jsessionid=1",
		"/api/premium.json",
		"/api/premium%20",
		"/API/premium",
		"//api/premium",
		"/api/./premium",
	} {
		a := rawGet(t, url, path)
		switch {
		case a.status == http.StatusPaymentRequired:
		case a.status >= 400 && a.status < 500:
			if strings.HasPrefix(a.body, "upstream") {
				t.Errorf("%s: the upstream answered %d unpaid", path, a.status)
			}
		default:
			t.Errorf("%s unpaid: %d %q, want 402 or a refusal", path, a.status, a.body)
		}
	}
}

// rawGet sends GET with path written as is on the request line.
func rawGet(t *testing.T, base, path string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path
	a := do(req)
	if a.err != nil {
		t.Fatal(a.err)
	}
	return a
}
