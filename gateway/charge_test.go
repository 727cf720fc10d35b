package gateway_test

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
)

// routes[i].charge is decoded as given, and left out it is nil (the
// default, 2xx and 3xx).
func TestChargeKeyParsed(t *testing.T) {
	const head = "network: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {url: https://f.example}\n"
	c, err := gateway.Parse("gw.yaml", []byte(head+"routes:\n  - {path: /a, upstream: http://u, price: $1, charge: [2xx, 4xx]}\n  - {path: /b, upstream: http://u, price: $1}\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Routes[0].Charge; !reflect.DeepEqual(got, []string{"2xx", "4xx"}) {
		t.Errorf("charge %q", got)
	}
	if c.Routes[1].Charge != nil {
		t.Errorf("charge left out: %q, want nil", c.Routes[1].Charge)
	}
}

// Bad charge values are refused with an error naming the key.
func TestChargeKeyErrors(t *testing.T) {
	const head = "network: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {url: https://f.example}\nroutes:\n  - path: /a\n    upstream: http://u\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"not a class", head + "    price: $1\n    charge: [2xx, 302]\n", `gw.yaml:8: routes[0].charge[1]: "302" is not a status class: must be 2xx, 3xx, 4xx or 5xx`},
		{"informational", head + "    price: $1\n    charge: [1xx]\n", `routes[0].charge[0]: "1xx" is not a status class`},
		{"upper case", head + "    price: $1\n    charge: [2XX]\n", `routes[0].charge[0]: "2XX" is not a status class`},
		{"twice", head + "    price: $1\n    charge: [2xx, 3xx, 2xx]\n", "gw.yaml:8: routes[0].charge[2]: 2xx is listed twice"},
		{"empty", head + "    price: $1\n    charge: []\n", "gw.yaml:8: routes[0].charge: must list at least one status class"},
		{"not a list", head + "    price: $1\n    charge: 2xx\n", "gw.yaml:8: routes[0].charge: must be a list"},
		{"free route", head + "    charge: [2xx]\n", "gw.yaml:7: routes[0].charge: only applies to priced routes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := gateway.Parse("gw.yaml", []byte(tc.yaml), nil)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error:\n%v\nwant one containing:\n%s", err, tc.want)
			}
		})
	}
}

// A route's charge key decides which upstream statuses are settled.
func TestChargeKeyHonoured(t *testing.T) {
	e := newEnv(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, err := strconv.Atoi(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
		if err != nil {
			status = http.StatusOK
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(up.Close)
	_, srv := e.start(t, e.config(t, fmt.Sprintf(`
routes:
  - {path: /default/*, upstream: %[1]s, price: $0.001}
  - {path: /only2xx/*, upstream: %[1]s, price: $0.001, charge: [2xx]}
  - {path: /with4xx/*, upstream: %[1]s, price: $0.001, charge: [2xx, 4xx]}
`, up.URL)))
	for _, tc := range []struct {
		path    string
		charged bool
	}{
		{"/default/304", true},
		{"/default/404", false},
		{"/only2xx/304", false},
		{"/only2xx/200", true},
		{"/with4xx/404", true},
		{"/with4xx/500", false},
	} {
		before := e.balance(t, e.payTo)
		r, _ := e.pay(t, srv.URL, tc.path)
		if want := tc.path[len(tc.path)-3:]; strconv.Itoa(r.status) != want {
			t.Fatalf("%s: status %d", tc.path, r.status)
		}
		if got := r.header.Get(x402.HeaderPaymentResponse) != ""; got != tc.charged {
			t.Errorf("%s: PAYMENT-RESPONSE present %v, want %v", tc.path, got, tc.charged)
		}
		want := int64(0)
		if tc.charged {
			want = 1000
		}
		if got := new(big.Int).Sub(e.balance(t, e.payTo), before); got.Int64() != want {
			t.Errorf("%s: payee received %s, want %d", tc.path, got, want)
		}
	}
}

// nonReserving is the environment's facilitator seen as one that does not
// reserve funds (as the x402.org facilitator).
type nonReserving struct{ x402.Facilitator }

// With a facilitator that does not reserve funds, a serve-then-settle
// route serves a payer one unsettled payment at a time, and the gateway's
// settlement worker ends the hold when the payment settled.
func TestGatewayOneUnsettledPaymentPerPayer(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, fmt.Sprintf(`
queue: {sqlite: %s}
routes:
  - path: /stream/*
    upstream: %s
    price: $0.001
    policy: serve-then-settle
`, filepath.Join(t.TempDir(), "queue.db"), up.URL))
	deps := e.deps()
	deps.Facilitator = nonReserving{e.fac}
	g, err := gateway.New(t.Context(), cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	before := e.balance(t, e.payTo)
	if r, _ := e.pay(t, srv.URL, "/stream/a"); r.status != http.StatusOK {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r, _ := e.pay(t, srv.URL, "/stream/b")
	if r.status != http.StatusPaymentRequired || required(t, r).Error != string(x402.ReasonPayerHasUnsettledPayment) {
		t.Fatalf("second, unsettled first: %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.RunSettlements(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	// Once the first settled, the payer is served again. The balance
	// moves when the settlement is mined; the worker ends the hold right
	// after recording it, so the next payment may still meet the hold a
	// moment: retry it (with a new payment each time) until served.
	deadline := time.Now().Add(20 * time.Second)
	for new(big.Int).Sub(e.balance(t, e.payTo), before).Int64() != 1000 {
		if time.Now().After(deadline) {
			t.Fatal("the queued payment was not settled")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		r, _ := e.pay(t, srv.URL, "/stream/c")
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusPaymentRequired || time.Now().After(deadline) {
			t.Fatalf("after settling: %d %s", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// facilitator.reservesFunds tells the remote client that the facilitator
// reserves funds: serve-then-settle routes then serve a payer's payments
// without waiting for the earlier ones to settle. Against the same go402
// facilitator service on loopback, without it the second is refused.
func TestReservesFundsKey(t *testing.T) {
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 3}})
	e := &env{dev: st.Devnet, fac: st.Facilitator, payer: st.Accounts[0].PrivateKey, payTo: st.Accounts[1].Address, network: st.Network}
	url := st.FacilitatorURL(t)
	up := newUpstream(t)
	for _, reserves := range []bool{false, true} {
		text := fmt.Sprintf("facilitator: {url: %s, reservesFunds: %t}\nnetwork: %s\npayTo: %s\nqueue: {sqlite: %s}\nroutes:\n  - {path: /s/*, upstream: %s, price: $0.001, policy: serve-then-settle}\n",
			url, reserves, e.network, e.payTo.Hex(), filepath.Join(t.TempDir(), "q.db"), up.URL)
		cfg, err := gateway.Parse("gw.yaml", []byte(text), nil)
		if err != nil {
			t.Fatal(err)
		}
		deps := e.deps()
		deps.Facilitator = nil // the remote client of facilitator.url
		g, err := gateway.New(t.Context(), cfg, deps)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = g.Close() })
		srv := httptest.NewServer(g)
		t.Cleanup(srv.Close)
		if r, _ := e.pay(t, srv.URL, "/s/a"); r.status != http.StatusOK {
			t.Fatalf("reservesFunds %v, first: %d %s", reserves, r.status, r.body)
		}
		r, _ := e.pay(t, srv.URL, "/s/b")
		if reserves && r.status != http.StatusOK {
			t.Errorf("reservesFunds true, second unsettled payment: %d %s", r.status, r.body)
		}
		if !reserves && (r.status != http.StatusPaymentRequired || required(t, r).Error != string(x402.ReasonPayerHasUnsettledPayment)) {
			t.Errorf("reservesFunds false, second unsettled payment: %d %s", r.status, r.body)
		}
	}
	c, err := gateway.Parse("gw.yaml", []byte("facilitator: {embedded: {devnet: true}, reservesFunds: true}\nroutes: [{path: /a, upstream: http://u}]\n"), nil)
	if err == nil {
		err = c.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "gw.yaml:1: facilitator.reservesFunds: is only used with url") {
		t.Errorf("reservesFunds without url: %v", err)
	}
}
