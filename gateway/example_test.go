package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

// A gateway selling an upstream API at $0.001 a request, from a small YAML
// configuration: a priced route answers 402 with the price until the client
// pays, a free route is proxied as is. Showing the price needs no call to
// the facilitator.
func Example() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s", r.URL.Path)
	}))
	defer upstream.Close()

	yaml := fmt.Sprintf(`
facilitator: {url: https://x402.org/facilitator}
payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
network: eip155:84532
routes:
  - {path: GET /api/*, upstream: %q, price: $0.001, description: Weather API}
  - {path: GET /free/*, upstream: %q}
`, upstream.URL, upstream.URL)
	cfg, err := gateway.Parse("gateway.yaml", []byte(yaml), nil)
	if err != nil {
		log.Fatal(err) // a *gateway.FieldError naming the line and the key
	}
	gw, err := gateway.New(context.Background(), cfg, gateway.Deps{})
	if err != nil {
		log.Fatal(err)
	}
	defer gw.Close()
	srv := httptest.NewServer(gw)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/weather")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, pr.Resource.Description, pr.Accepts[0].Network, pr.Accepts[0].Amount, pr.Accepts[0].Asset)

	resp, err = http.Get(srv.URL + "/free/news")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 402 Weather API eip155:84532 1000 0x036CbD53842c5426634e7929541eC2318f3dCF7e
	// 200 upstream saw /free/news
}
