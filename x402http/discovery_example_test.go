package x402http_test

import (
	"encoding/json"
	"fmt"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/x402http"
)

// A route declared discoverable: its 402 carries the bazaar extension
// (method GET from the pattern, the query's example and schema, an example
// answer), and the facilitator that settles a payment for it lists it.
func ExampleRoute_discovery() {
	route := x402http.Route{
		Pattern:     "GET /weather",
		Accepts:     []x402http.PaymentOption{{Network: "eip155:84532", Price: "$0.001", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}},
		Description: "Current weather for a city",
		Discovery: &bazaar.HTTP{
			Query:       json.RawMessage(`{"city":"Paris"}`),
			QuerySchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
			Output:      json.RawMessage(`{"celsius":12}`),
		},
	}
	// The middleware builds the extension with the pattern's method:
	ext, err := route.Discovery.Extension("GET")
	if err != nil {
		panic(err)
	}
	parsed, err := bazaar.Parse(ext)
	if err != nil {
		panic(err)
	}
	fmt.Println(parsed.Info.Input.Method, string(parsed.Info.Input.QueryParams))
	// Output: GET {"city":"Paris"}
}
