package x402http_test

import (
	"net/http"
	"testing"

	"github.com/go402/go402/internal/benchapi"
)

// The middleware hot paths with a facilitator that answers at once, so the
// figures are the middleware's own cost. `go402 bench` measures the same
// API (package benchapi), and the facilitator, the chain and the network
// around it, in one run.

func runBench(b *testing.B, h http.Handler, r *http.Request, want int) {
	w := benchapi.NewWriter()
	b.ReportAllocs()
	for b.Loop() {
		if err := benchapi.Serve(h, w, r, want); err != nil {
			b.Fatal(err)
		}
	}
}

func newBenchAPI(b *testing.B) *benchapi.API {
	b.Helper()
	api, err := benchapi.New(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return api
}

// BenchmarkUnprotected is the handler alone: the baseline.
func BenchmarkUnprotected(b *testing.B) {
	api := newBenchAPI(b)
	unpaid, _, _ := api.Requests()
	runBench(b, api.Plain, unpaid, http.StatusOK)
}

// BenchmarkMiddlewarePassThrough is a request matching no route.
func BenchmarkMiddlewarePassThrough(b *testing.B) {
	api := newBenchAPI(b)
	_, _, free := api.Requests()
	runBench(b, api.Paid, free, http.StatusOK)
}

// BenchmarkMiddleware402 is an unpaid request to a paid route: route match,
// requirements, PAYMENT-REQUIRED header and the v1 JSON body.
func BenchmarkMiddleware402(b *testing.B) {
	api := newBenchAPI(b)
	unpaid, _, _ := api.Requests()
	runBench(b, api.Paid, unpaid, http.StatusPaymentRequired)
}

// BenchmarkMiddlewarePaid is a paid request (settle-before-serve) with an
// instant facilitator: header decoding, requirement matching, the
// one-payment-one-response claim, buffering and PAYMENT-RESPONSE. Subtract
// BenchmarkUnprotected for the middleware's overhead.
func BenchmarkMiddlewarePaid(b *testing.B) {
	api := newBenchAPI(b)
	_, paid, _ := api.Requests()
	runBench(b, api.Paid, paid, http.StatusOK)
}
