package gateway_test

import (
	"strings"
	"testing"

	"github.com/go402/go402/gateway"
)

// Route paths follow the one grammar of the x402http middleware: a path no
// cleaned request could reach is refused, not left to never match (or, as
// an empty segment once was here, to match as a parameter).
func TestRoutePathGrammar(t *testing.T) {
	const head = "network: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {url: https://f.example}\nroutes:\n  - upstream: http://u\n    price: $1\n    path: "
	validate := func(path string) error {
		c, err := gateway.Parse("gw.yaml", []byte(head+path+"\n"), nil)
		if err != nil {
			return err
		}
		return c.Validate()
	}
	for _, ok := range []string{"/a/*", "'GET /a/{id}'", "'M-SEARCH /upnp'", "/.well-known/x"} {
		if err := validate(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{"/premium//report", "routes[0].path: an empty segment"},
		{"/a/../b", `routes[0].path: a ".." segment`},
		{"/a/./b", `routes[0].path: a "." segment`},
		{`'/a\b'`, `routes[0].path: bad segment "a\\b"`},
		{"/a/{}", `routes[0].path: bad segment "{}"`},
		{"'/a/:'", `routes[0].path: bad segment ":"`},
		{"'G(ET /a'", `routes[0].path: "G(ET" is not an HTTP method`},
	} {
		if err := validate(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.path, err, tc.want)
		}
	}
}
