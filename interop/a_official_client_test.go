package interop

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// price is what every paid route costs: $0.001 of the 6-decimal devnet USDC.
const (
	price      = "$0.001"
	priceAtoms = 1000
)

// goServer serves GET /weather behind go402's x402http middleware, using fac.
func (w *world) goServer(fac x402.Facilitator) *httptest.Server {
	w.t.Helper()
	mw, err := x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     evm.ServerSchemes(w.nets),
		Routes: []x402http.Route{{
			Pattern:     "GET /weather",
			Accepts:     []x402http.PaymentOption{{Network: w.network(), Price: price, PayTo: w.addr(acctPayee).Hex()}},
			Description: "Weather",
			MimeType:    "application/json",
		}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprint(rw, `{"forecast":"sunny"}`)
	})))
	w.t.Cleanup(srv.Close)
	return srv
}

// TestOfficialClientPaysGoServer: @x402/fetch (v2) pays a go402 x402http
// route and a go402 gateway route, settled by go402's facilitator.
func TestOfficialClientPaysGoServer(t *testing.T) {
	w := newWorld(t, 0)
	fac, _ := w.goFacilitator()

	t.Run("x402http", func(t *testing.T) {
		w := w.sub(t)
		srv := w.goServer(fac)
		b := w.snapshot(w.addr(acctNodePayer), w.addr(acctPayee))
		r := w.runClient("client-v2.mjs", map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.URL + "/weather"})
		if r.Status != 200 || r.Body != `{"forecast":"sunny"}` {
			t.Fatalf("paid: %d %q", r.Status, r.Body)
		}
		w.checkSettled(r.PaymentResponse, w.dev.Network())
		b.moved(priceAtoms)
	})

	t.Run("gateway", func(t *testing.T) {
		w := w.sub(t)
		upstream := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(rw, `{"path":%q}`, r.URL.Path)
		}))
		t.Cleanup(upstream.Close)
		text := fmt.Sprintf("facilitator: {embedded: {devnet: true}}\nnetwork: %s\npayTo: %s\nroutes:\n  - path: /api/*\n    upstream: %s\n    price: %s\n    description: Weather API\n",
			w.network(), w.addr(acctPayee).Hex(), upstream.URL, strings.TrimSpace(price))
		cfg, err := gateway.Parse("gw.yaml", []byte(text), nil)
		if err != nil {
			t.Fatalf("gateway config: %v\n%s", err, text)
		}
		g, err := gateway.New(w.ctx, cfg, gateway.Deps{Facilitator: fac, Networks: []evm.NetworkConfig{w.dev.NetworkConfig()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Close() })
		srv := httptest.NewServer(g)
		t.Cleanup(srv.Close)

		b := w.snapshot(w.addr(acctNodePayer), w.addr(acctPayee))
		r := w.runClient("client-v2.mjs", map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.URL + "/api/weather"})
		if r.Status != 200 || r.Body != `{"path":"/api/weather"}` {
			t.Fatalf("paid: %d %q", r.Status, r.Body)
		}
		w.checkSettled(r.PaymentResponse, w.dev.Network())
		b.moved(priceAtoms)
	})
}
