package x402http_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// A handler of a metered route (a payment option with scheme "upto")
// charges what the answer used once it knows it: the middleware settles
// that amount after the handler returned, never more than the payment's
// maximum.
func ExampleCharge() {
	search := func(w http.ResponseWriter, r *http.Request) {
		results := []string{"a", "b", "c"}
		// 1000 atomic units (0.001 USDC) a result.
		if err := x402http.Charge(r, x402.NewAmount(uint64(1000*len(results)))); errors.Is(err, x402http.ErrOverMaximum) {
			// Charged the maximum: the answer used more than the
			// payment authorized.
			results = results[:1]
		}
		fmt.Fprintln(w, results)
	}
	_ = x402http.Route{
		Pattern: "GET /search",
		Accepts: []x402http.PaymentOption{{Scheme: "upto", Network: "eip155:8453", Price: "$0.01", PayTo: "0xYourAddress"}},
	}
	_ = search
}

// A streaming handler of a route with a unit price counts units as it
// delivers them; each event is flushed before it is counted, so a client
// that leaves mid-stream pays for what it was sent.
func ExampleUse() {
	stream := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for _, tok := range []string{"Hello", ",", " world"} {
			if u, ok := x402http.UsageFromContext(r.Context()); ok && u.Remaining().Cmp(u.Unit) < 0 {
				break // the payment's maximum is reached
			}
			fmt.Fprintf(w, "data: %s\n\n", tok)
			if rc.Flush() != nil {
				return
			}
			_ = x402http.Use(r, 1)
		}
	}
	_ = x402http.Route{
		Pattern:   "GET /v1/completions",
		Accepts:   []x402http.PaymentOption{{Scheme: "upto", Network: "eip155:8453", Price: "$0.01", PayTo: "0xYourAddress"}},
		UnitPrice: "$0.0001", // a token
	}
	_ = stream
}
