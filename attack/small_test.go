package attack_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the test reads the SQLite ledger directly

	"github.com/jackc/pgx/v5"

	"github.com/go402/go402/client"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// clock is a settable clock for the middleware.
type clock struct {
	mu   sync.Mutex
	skew time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.skew)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.skew += d
	c.mu.Unlock()
}

// TestRefusedServeThenSettleAnswerLeaksNoHeaders: a serve-then-settle
// handler that sets a session cookie, a download link and a token, and
// then answers too late for its payment to be settled, is refused; the
// refusal must carry none of the handler's headers, which would hand the
// unpaid content over anyway.
func TestRefusedServeThenSettleAnswerLeaksNoHeaders(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 3})
	svc := c.facilitator(t, facOptions{})
	clk := &clock{}
	route := c.route("GET /paid", x402http.ServeThenSettle)
	route.MaxTimeoutSeconds = 90
	mw, err := x402http.New(x402http.Config{
		Facilitator: svc.Facilitator(), Schemes: evm.ServerSchemes(c.nets), Queue: openQueue(t, ""),
		Routes: []x402http.Route{route}, Now: clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	url := serveHTTP(t, mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=paid")
		w.Header().Set("Location", "/download/secret")
		w.Header().Set("X-Download-Token", "t0ken")
		clk.advance(time.Minute) // the handler was slow: the payment is about to expire
		io.WriteString(w, "PAID CONTENT")
	})))
	p := c.newPayer(t, priceAtomic)
	a := get(t.Context(), url+"/paid", p.sign(t, offer(t, url+"/paid")))
	if a.status == http.StatusOK || strings.Contains(a.body, "PAID CONTENT") {
		t.Fatalf("served: %d %q", a.status, a.body)
	}
	for _, k := range []string{"Set-Cookie", "Location", "X-Download-Token"} {
		if v := a.header.Get(k); v != "" {
			t.Errorf("the refused answer (%d) carries the handler's %s: %q", a.status, k, v)
		}
	}
}

// TestPaidAnswerNotForSharedCaches: a paid answer must not carry
// directives for shared caches (a CDN would serve it to the next visitor
// unpaid), whatever the handler set.
func TestPaidAnswerNotForSharedCaches(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 3})
	svc := c.facilitator(t, facOptions{})
	cdn := []string{"CDN-Cache-Control", "Surrogate-Control", "Cloudflare-CDN-Cache-Control"}
	h := &counted{fn: func(w http.ResponseWriter, r *http.Request) {
		for _, k := range cdn {
			w.Header().Set(k, "max-age=86400")
		}
		io.WriteString(w, "paid content")
	}}
	for _, policy := range []x402http.Policy{x402http.SettleBeforeServe, x402http.ServeThenSettle} {
		s := c.paidServer(t, svc.Facilitator(), "", h, c.route("GET /paid", policy))
		p := c.newPayer(t, priceAtomic)
		a := get(t.Context(), s.url+"/paid", p.sign(t, offer(t, s.url+"/paid")))
		if a.status != http.StatusOK {
			t.Fatalf("%s: %d %s", policyName(policy), a.status, a.body)
		}
		for _, k := range cdn {
			if v := a.header.Get(k); v != "" {
				t.Errorf("%s: the paid answer carries %s: %q", policyName(policy), k, v)
			}
		}
	}
}

// TestCORSWildcardWithCredentialsRefused: `*` with credentials would let
// every web page read paid answers with the visitor's cookies; the
// middleware and the gateway refuse the configuration.
func TestCORSWildcardWithCredentialsRefused(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 3})
	svc := c.facilitator(t, facOptions{})
	_, err := x402http.New(x402http.Config{
		Facilitator: svc.Facilitator(), Schemes: evm.ServerSchemes(c.nets),
		Routes: []x402http.Route{c.route("GET /paid", x402http.SettleBeforeServe)},
		CORS:   x402http.CORS{AllowOrigins: []string{"*"}, AllowCredentials: true},
	})
	if err == nil {
		t.Error("x402http.New accepted CORS * with credentials")
	}
	// The gateway: the same configuration without credentials is
	// accepted, with them refused.
	for _, creds := range []bool{false, true} {
		yaml := fmt.Sprintf(`facilitator: {embedded: {devnet: true}}
network: %s
payTo: %s
cors:
  allowOrigins: ["*"]
  allowCredentials: %t
routes:
  - path: GET /api/*
    upstream: http://127.0.0.1:1
    price: %s
`, c.network, c.payee.Hex(), creds, price)
		cfg, err := gateway.Parse("gateway.yaml", []byte(yaml), nil)
		if err == nil {
			var g *gateway.Gateway
			if g, err = gateway.New(t.Context(), cfg, gateway.Deps{Facilitator: svc.Facilitator(), Networks: []evm.NetworkConfig{c.dev.NetworkConfig()}}); err == nil {
				_ = g.Close()
			}
		}
		switch {
		case creds && err == nil:
			t.Error("the gateway accepted cors * with credentials")
		case !creds && err != nil:
			t.Fatalf("the gateway refused cors * without credentials: %v", err)
		}
	}
}

// TestFacilitatorRefusesNonJSONBodies: a browser page may POST text/plain
// to any address without a preflight; the facilitator must answer 415 to
// /verify and /settle with such a body, and change nothing: no ledger row,
// no transfer. On both ledgers.
func TestFacilitatorRefusesNonJSONBodies(t *testing.T) {
	for _, l := range ledgers {
		t.Run(string(l), func(t *testing.T) {
			c := newChain(t, devnet.Config{Accounts: 3})
			opts := facOptions{ledger: l, sqlitePath: filepath.Join(t.TempDir(), "ledger.db")}
			if l == onPostgres {
				opts.schema = newSchema(t)
			}
			svc := c.facilitator(t, opts)
			url := serveHTTP(t, svc.Handler())
			p := c.newPayer(t, priceAtomic)
			req := c.requirements(priceAtomic, c.payee)
			obj, err := p.client.CreatePayload(t.Context(), x402.V2, req)
			if err != nil {
				t.Fatal(err)
			}
			pp := &x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: obj, Resource: &x402.ResourceInfo{URL: "https://shop.example/paid"}}
			body, err := x402.NewFacilitatorRequest(pp, &req).MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			rows0 := ledgerRows(t, opts)
			for _, endpoint := range []string{"/verify", "/settle"} {
				for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
					r, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+endpoint, bytes.NewReader(body))
					if ct != "" {
						r.Header.Set("Content-Type", ct)
					}
					if a := do(r); a.status != http.StatusUnsupportedMediaType {
						t.Errorf("POST %s as %q: %d %s, want 415", endpoint, ct, a.status, a.body)
					}
				}
			}
			if rows := ledgerRows(t, opts); rows != rows0 {
				t.Errorf("ledger rows %d → %d after refused requests", rows0, rows)
			}
			if got := c.balance(t, p.addr); got.Cmp(big.NewInt(priceAtomic)) != 0 {
				t.Errorf("the payer was charged by a text/plain request: balance %s", got)
			}
		})
	}
}

// ledgerRows counts the settlements in the ledger of a facilitator started
// with opts.
func ledgerRows(t *testing.T, opts facOptions) int {
	t.Helper()
	var n int
	if opts.ledger == onPostgres {
		conn, err := pgx.Connect(t.Context(), postgresURL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM "+pgx.Identifier{opts.schema, "settlements"}.Sanitize()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	db, err := sql.Open("sqlite", "file:"+opts.sqlitePath+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM settlements").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// rewrite sends every request to a test server, whatever host its URL
// names, so that a client can be shown several spellings of one host.
type rewrite struct{ target string }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = "http", strings.TrimPrefix(r.target, "http://"), ""
	return http.DefaultTransport.RoundTrip(out)
}

// TestClientPerHostBudgetAcrossSpellings: `host`, `host:443` and `host.`
// are one host; a per-host budget of two prices lets the client pay twice
// in all, not twice per spelling.
func TestClientPerHostBudgetAcrossSpellings(t *testing.T) {
	c := newChain(t, devnet.Config{Accounts: 3})
	svc := c.facilitator(t, facOptions{})
	_, url := c.server(t, svc.Facilitator(), nil, &counted{}, c.route("GET /paid", x402http.SettleBeforeServe))
	p := c.newPayer(t, 10*priceAtomic)
	signer, err := evm.NewPrivateKeySignerFromECDSA(p.key)
	if err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(c.nets)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.NewEVM(signer, client.Config{Assets: assets, Base: rewrite{url}, Policy: client.Policy{BudgetPerHost: "$0.02"}})
	if err != nil {
		t.Fatal(err)
	}
	hc := cl.HTTPClient()
	paid := 0
	for _, u := range []string{"https://shop.example/paid", "https://shop.example:443/paid", "https://shop.example./paid", "https://SHOP.example/paid"} {
		resp, err := hc.Get(u)
		var pe *client.PolicyError
		switch {
		case errors.As(err, &pe) && pe.Rule == client.RuleBudgetPerHost:
		case err != nil:
			t.Fatalf("%s: %v", u, err)
		default:
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				paid++
			}
		}
	}
	if paid > 2 {
		t.Errorf("paid %d times on one host with a per-host budget of two prices", paid)
	}
	if got := c.balance(t, p.addr); got.Cmp(big.NewInt(8*priceAtomic)) < 0 {
		t.Errorf("payer balance %s: more than the per-host budget was spent", got)
	}
}
