package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// losingServer serves the shop, except that the answer to the first paid
// request is lost: the server handles it completely (the payment settles)
// and then drops the connection instead of answering.
func (s *shop) losingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	inner := s.srv.Config.Handler
	var lost atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(x402.HeaderPaymentSignature) == "" || !lost.CompareAndSwap(0, 1) {
			inner.ServeHTTP(w, r)
			return
		}
		inner.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv, &lost
}

// The answer to a paid request is lost, and the payment is sent again: by
// http.Transport itself for a GET on a reused connection, by the client
// for a POST. The server refuses the copy of a payment it served. That is
// not a rejection: the payment was charged.
func TestLostAnswerIsOutcomeUnknown(t *testing.T) {
	s := newShop(t)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			srv, lost := s.losingServer(t)
			c, _ := s.client(t, client.Policy{Budget: "1"})
			before := s.balance(t, s.payees[0])
			path, body := "/weather", []byte(nil)
			if method == http.MethodPost {
				path, body = "/echo", []byte("hello")
			}
			req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, bytes.NewReader(body))
			resp, err := c.HTTPClient().Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			var ue *client.OutcomeUnknownError
			if !errors.Is(err, client.ErrPaymentOutcomeUnknown) || errors.Is(err, client.ErrPaymentRejected) || !errors.As(err, &ue) ||
				ue.StatusCode != http.StatusPaymentRequired || ue.Option == nil || ue.Option.Price != "0.001 USDC" || lost.Load() != 1 {
				t.Fatalf("err = %v (%#v)", err, ue)
			}
			if !strings.Contains(err.Error(), "may have been charged") {
				t.Errorf("message %q", err)
			}
			// It was charged, once, and the budget counts it.
			if got := new(big.Int).Sub(s.balance(t, s.payees[0]), before); got.Cmp(big.NewInt(1000)) != 0 {
				t.Fatalf("payee received %s", got)
			}
			if sp, err := c.Spending(t.Context()); err != nil || sp.Spent != "0.001" || sp.Reserved != "0" {
				t.Fatalf("spending %+v %v", sp, err)
			}
		})
	}
}

// An error answer without a settlement was not charged by an x402 server:
// its reservation is released, except for 502 and 504, which a server or
// a proxy gives while the settlement may still happen.
func TestUnchargedErrorsReleaseTheBudget(t *testing.T) {
	s := newShop(t)
	mw, err := x402http.New(x402http.Config{Facilitator: s.fac, Schemes: evm.ServerSchemes(s.nets), Routes: []x402http.Route{
		{Pattern: "GET /status/{code}", Accepts: []x402http.PaymentOption{{Network: "eip155:84532", Price: "$0.001", PayTo: s.payees[0].Hex()}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
	})))
	t.Cleanup(srv.Close)
	c, _ := s.client(t, client.Policy{Budget: "1"})
	spent := "0"
	for _, tc := range []struct {
		code  int
		spent string
	}{
		{http.StatusInternalServerError, "0"},
		{http.StatusNotFound, "0"},
		{http.StatusServiceUnavailable, "0"},
		{http.StatusBadGateway, "0.001"},
		{http.StatusGatewayTimeout, "0.002"},
		{http.StatusOK, "0.003"},
	} {
		resp, err := s.get(t, c, fmt.Sprintf("%s/status/%d", srv.URL, tc.code))
		if err != nil || resp.StatusCode != tc.code {
			t.Fatalf("%d: %v", tc.code, err)
		}
		if _, ok := client.ReceiptFromResponse(resp); !ok {
			t.Errorf("%d: no receipt", tc.code)
		}
		sp, err := c.Spending(t.Context())
		if err != nil || sp.Spent != tc.spent || sp.Reserved != "0" {
			t.Errorf("after %d: spending %+v %v, want %s (was %s)", tc.code, sp, err, tc.spent, spent)
		}
		spent = sp.Spent
	}
}

// Limits in dollars apply to US dollar stablecoins only.
func TestDollarLimitsNeedADollarAsset(t *testing.T) {
	asset := "0x1111111111111111111111111111111111111111"
	req := x402.PaymentRequirements{
		Scheme: "exact", Network: "eip155:8453", Amount: x402.NewAmount(500_000), Asset: asset,
		PayTo: "0x2222222222222222222222222222222222222222", MaxTimeoutSeconds: 60, Extra: x402.Object(`{"name":"Token","version":"1"}`),
	}
	srv := staticOffer(t, req)
	key, _ := evm.NewPrivateKeySigner(strings.Repeat("11", 32))
	quote := func(symbol string, p client.Policy) *client.Quote {
		t.Helper()
		nets := &evm.Networks{}
		a := evm.Asset{Address: common.HexToAddress(asset), Symbol: symbol, Name: "Token", Version: "1", Decimals: 6}
		if err := nets.Add(evm.NetworkConfig{ChainID: 8453, Assets: []evm.Asset{a}}); err != nil {
			t.Fatal(err)
		}
		c, err := client.NewEVM(key, client.Config{Assets: assetsOf(t, nets), Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		q, err := c.Quote(t.Context(), r)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	for _, tc := range []struct {
		symbol string
		policy client.Policy
		rule   string // "" when allowed
	}{
		{"EURC", client.Policy{MaxPerRequest: "$1"}, client.RuleMaxPerRequest},
		{"WETH", client.Policy{Budget: "$100"}, client.RuleBudget},
		{"WETH", client.Policy{BudgetPerHost: "$100"}, client.RuleBudgetPerHost},
		{"EURC", client.Policy{MaxPerRequest: "1 EURC"}, ""},
		{"EURC", client.Policy{MaxPerRequest: "1"}, ""},
		{"USDC", client.Policy{MaxPerRequest: "$1"}, ""},
		{"usdt0", client.Policy{Budget: "$1"}, ""},
		{"USDC", client.Policy{MaxPerRequest: "$0.1"}, client.RuleMaxPerRequest},
	} {
		q := quote(tc.symbol, tc.policy)
		var pe *client.PolicyError
		switch {
		case tc.rule == "" && q.Refusal != nil:
			t.Errorf("%s %+v: refused: %v", tc.symbol, tc.policy, q.Refusal)
		case tc.rule != "" && (!errors.As(q.Refusal, &pe) || pe.Rule != tc.rule):
			t.Errorf("%s %+v: refusal %v, want rule %s", tc.symbol, tc.policy, q.Refusal, tc.rule)
		case tc.rule != "" && tc.symbol != "USDC" && !errors.Is(q.Refusal, client.ErrLimitCurrency):
			t.Errorf("%s %+v: %v does not wrap ErrLimitCurrency", tc.symbol, tc.policy, q.Refusal)
		}
	}
}
