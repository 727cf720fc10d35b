package mcpwallet

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
)

// usdcOffer is a server asking amount atomic units of Base USDC for every
// request; it counts the requests that carry a payment and answers them
// 200 without a settlement.
func usdcOffer(t *testing.T, amount string, paid *atomic.Int64) *httptest.Server {
	t.Helper()
	a, err := x402.ParseAmount(amount)
	if err != nil {
		t.Fatal(err)
	}
	pr := &x402.PaymentRequired{X402Version: 2, Resource: x402.ResourceInfo{URL: "https://api.example/data"}, Accepts: []x402.PaymentRequirements{{
		Scheme: "exact", Network: "eip155:8453", Amount: a, Asset: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
		PayTo: "0x000000000000000000000000000000000000dEaD", MaxTimeoutSeconds: 60, Extra: x402.Object(`{"name":"USD Coin","version":"2"}`),
	}}}
	h, err := x402.EncodePaymentRequired(pr)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(x402.HeaderPaymentSignature) != "" {
			paid.Add(1)
			w.Write([]byte("served"))
			return
		}
		w.Header().Set(x402.HeaderPaymentRequired, h)
		w.WriteHeader(http.StatusPaymentRequired)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestAbsurdPriceRefused: a server asking far more than --max gets
// nothing signed, from fetch as from quote.
func TestAbsurdPriceRefused(t *testing.T) {
	var paid atomic.Int64
	srv := usdcOffer(t, "5000000000", &paid) // 5000 USDC
	cs := connect(t, Config{Client: client.Config{Policy: client.Policy{MaxPerRequest: "$0.10"}}})
	got, isErr := callJSON(t, cs, "fetch", map[string]any{"url": srv.URL})
	if !isErr || !strings.Contains(got, "refused by the policy (max-per-request), nothing was signed") {
		t.Errorf("fetch: %s", got)
	}
	got, isErr = callJSON(t, cs, "quote", map[string]any{"url": srv.URL})
	if isErr || !strings.Contains(got, `"allowed":false`) || !strings.Contains(got, `"price":"5000 USDC"`) {
		t.Errorf("quote: %s", got)
	}
	if paid.Load() != 0 {
		t.Errorf("%d payments reached the server", paid.Load())
	}
}

// TestParallelFetchesWithinBudget: many parallel fetches over one session
// with a budget for one payment: one payment is sent, the others refused.
func TestParallelFetchesWithinBudget(t *testing.T) {
	var paid atomic.Int64
	srv := usdcOffer(t, "10000", &paid) // 0.01 USDC
	cs := connect(t, Config{Client: client.Config{Policy: client.Policy{MaxPerRequest: "$0.10", Budget: "$0.015"}}})
	var refused atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, isErr := callJSON(t, cs, "fetch", map[string]any{"url": srv.URL})
			if isErr && strings.Contains(got, "refused by the policy (budget)") {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if paid.Load() != 1 || refused.Load() != 7 {
		t.Errorf("%d payments sent, %d refused; want 1 and 7", paid.Load(), refused.Load())
	}
}
