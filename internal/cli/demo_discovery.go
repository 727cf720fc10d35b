package cli

import (
	"encoding/json"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/x402http"
)

// discoverable declares the sample API's routes discoverable (the bazaar
// extension, with an example answer where the route has a fixed one), so
// that the facilitator of go402 dev and go402 demo catalogues each once
// paid, for go402 discover.
func discoverable(routes []x402http.Route) []x402http.Route {
	examples := map[string]string{
		"GET /weather": `{"city":"Lisbon","forecast":"sunny","celsius":22}`,
		"GET /report":  `{"quarter":"Q3","revenue":"1.2M","growth":"12%"}`,
	}
	out := make([]x402http.Route, len(routes))
	for i, r := range routes {
		d := &bazaar.HTTP{}
		if ex, ok := examples[r.Pattern]; ok {
			d.Output = json.RawMessage(ex)
		}
		r.Discovery = d
		out[i] = r
	}
	return out
}
