package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go402/go402/metrics"
)

// A middleware's counters on a registry of its own, served on /metrics.
func ExampleNewHTTP() {
	reg := metrics.NewRegistry()
	rec, err := metrics.NewHTTP(reg)
	if err != nil {
		panic(err)
	}
	// rec is x402http.Config.Metrics; here, one 402 counted by hand.
	rec.PaymentRequired("GET /weather")

	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "go402_http_payment_required_total{") {
			fmt.Println(line)
		}
	}
	// Output: go402_http_payment_required_total{route="GET /weather"} 1
}
