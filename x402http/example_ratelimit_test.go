package x402http_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402http"
)

// Two free requests a day per client address, then the 402; and no more
// than 3 requests a minute per address over every priced route, with
// addresses read from the X-Forwarded-For of the load balancers in
// 10.0.0.0/8 only. (The facilitator is never called: nobody pays here.)
func ExampleNewRateLimiter() {
	fac, err := remote.New(remote.Config{URL: "https://facilitator.example"})
	if err != nil {
		log.Fatal(err)
	}
	shared, err := x402http.NewRateLimiter(x402http.RateLimits{
		PerIP: x402http.Limit{Requests: 3, Per: time.Minute},
	})
	if err != nil {
		log.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{
		Facilitator:    fac,
		Schemes:        evm.ServerSchemes(evm.DefaultNetworks()),
		RateLimiter:    shared,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		Routes: []x402http.Route{{
			Pattern:    "GET /weather",
			Accepts:    []x402http.PaymentOption{{Network: "eip155:84532", Price: "$0.001", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}},
			RateLimits: x402http.RateLimits{Free: x402http.FreeTier{Requests: 2, Window: 24 * time.Hour}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "sunny")
	})))
	defer srv.Close()
	for range 4 {
		resp, err := http.Get(srv.URL + "/weather")
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			fmt.Println(resp.StatusCode, "Retry-After:", ra)
			continue
		}
		fmt.Println(resp.StatusCode)
	}
	// Output:
	// 200
	// 200
	// 402
	// 429 Retry-After: 20
}
