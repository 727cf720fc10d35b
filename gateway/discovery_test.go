package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go402/go402/bazaar"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

// TestDiscoverableRoute: a route with discoverable: true declares the
// bazaar extension in its 402; once paid (the payer echoing it), the
// facilitator lists it with the schemas of the configuration.
func TestDiscoverableRoute(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, `routes:
  - path: GET /weather
    upstream: `+up.URL+`
    price: $0.001
    discoverable: true
    discovery:
      query: '{"city":"Paris"}'
      querySchema: '{"type":"object","properties":{"city":{"type":"string"}}}'
      output: '{"celsius":12}'
  - {path: GET /plain, upstream: `+up.URL+`, price: $0.001}
`)
	_, srv := e.start(t, cfg)
	for _, path := range []string{"/weather?city=Paris", "/plain"} {
		pr := required(t, get(t, srv.URL, path))
		declared := bazaar.Declared(pr.Extensions) != nil
		if declared != strings.HasPrefix(path, "/weather") {
			t.Fatalf("%s: 402 extensions %s", path, pr.Extensions)
		}
		signer, err := evm.NewPrivateKeySignerFromECDSA(e.payer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
		if err != nil {
			t.Fatal(err)
		}
		obj, err := c.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
		if err != nil {
			t.Fatal(err)
		}
		h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj, Extensions: pr.Extensions})
		if err != nil {
			t.Fatal(err)
		}
		if r := send(t, http.MethodGet, srv.URL, path, http.Header{x402.HeaderPaymentSignature: {h}}); r.status != http.StatusOK {
			t.Fatalf("%s: paid status %d", path, r.status)
		}
	}
	lr, err := e.fac.DiscoveryResources(t.Context(), bazaar.ListParams{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lr.Items) != 1 || lr.Items[0].Resource != srv.URL+"/weather" {
		t.Fatalf("listed %+v", lr.Items)
	}
	ext := lr.Items[0].Declaration()
	if ext == nil || ext.Info.Input.Method != "GET" || string(ext.Info.Input.QueryParams) != `{"city":"Paris"}` || !strings.Contains(string(ext.Schema), `"city":{"type":"string"}`) {
		t.Fatalf("declaration %s", lr.Items[0].Extensions)
	}
}

func TestDiscoveryConfigErrors(t *testing.T) {
	head := "facilitator: {url: http://127.0.0.1:1}\nnetwork: eip155:84532\npayTo: 0x1111111111111111111111111111111111111111\nroutes:\n"
	for _, tc := range []struct{ name, route, want string }{
		{"without discoverable", `  - {path: /a, upstream: http://u, price: $1, discovery: {query: '{}'}}`, "routes[0].discovery"},
		{"free", `  - {path: /a, upstream: http://u, discoverable: true}`, "routes[0].discoverable"},
		{"bad json", `  - {path: /a, upstream: http://u, price: $1, discoverable: true, discovery: {output: '{'}}`, "routes[0].discovery"},
		{"external ref", `  - {path: /a, upstream: http://u, price: $1, discoverable: true, discovery: {querySchema: '{"$ref":"http://127.0.0.1:1/s"}'}}`, "same-document"},
		{"example vs schema", `  - {path: /a, upstream: http://u, price: $1, discoverable: true, discovery: {query: '{"n":"x"}', querySchema: '{"properties":{"n":{"type":"integer"}}}'}}`, "routes[0].discovery"},
		{"method", `  - {path: OPTIONS /a, upstream: http://u, price: $1, discoverable: true}`, "routes[0].discovery"},
	} {
		c, err := gateway.Parse("gw.yaml", []byte(head+tc.route+"\n"), nil)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error naming %s", tc.name, err, tc.want)
		}
	}
	c, err := gateway.Parse("gw.yaml", []byte(head+`  - {path: POST /a, upstream: http://u, price: $1, discoverable: true, discovery: {body: '{"q":"x"}'}}`+"\n"), nil)
	if err == nil {
		err = c.Validate()
	}
	if err != nil || !c.Routes[0].Discoverable || c.Routes[0].Discovery.Body != `{"q":"x"}` {
		t.Fatalf("valid discoverable route: %v", err)
	}
}
