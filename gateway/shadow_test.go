package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go402/go402/gateway"
)

func validateRoutes(t *testing.T, routes string) error {
	t.Helper()
	const head = "network: eip155:84532\npayTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c\nfacilitator: {url: https://f.example}\nroutes:\n"
	c, err := gateway.Parse("gw.yaml", []byte(head+routes), nil)
	if err != nil {
		return err
	}
	return c.Validate()
}

// A free route that matches requests of a priced route, before it (which
// it makes unreachable) or after it (where the priced paths' lenient
// spellings would fall to it), is refused unless it says shadowsPriced.
func TestFreeRouteShadowingAPricedRoute(t *testing.T) {
	const priced = "  - {path: GET /api/premium, upstream: http://u, price: $1}\n"
	for _, tc := range []struct{ routes, want string }{
		{priced + "  - {path: GET /api/*, upstream: http://u}\n",
			`routes[1].path: the free route "GET /api/*" matches requests of the priced routes[0] "GET /api/premium" and comes after it`},
		{"  - {path: /api/*, upstream: http://u}\n" + priced,
			`routes[0].path: the free route "/api/*" matches requests of the priced routes[1] "GET /api/premium" and comes before it, and serves those requests free: set shadowsPriced: true on routes[0]`},
		{priced + "  - {path: '/*', upstream: http://u}\n", `routes[1].path: the free route "/*"`},
		{priced + "  - {path: '/api/{name}', upstream: http://u}\n", `routes[1].path: the free route "/api/{name}"`},
		{"  - {path: /api/premium, upstream: http://u}\n" + priced, `routes[0].path: the free route "/api/premium"`},
		// A final * matches no segment too: /api/premium/* has /api/premium.
		{priced + "  - {path: /api/premium/*, upstream: http://u}\n", `routes[1].path: the free route "/api/premium/*"`},
		{"  - {path: /api/*, upstream: http://u, price: $1, shadowsPriced: true}\n", "routes[0].shadowsPriced: only applies to free routes"},
	} {
		if err := validateRoutes(t, tc.routes); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant an error with %q", tc.routes, err, tc.want)
		}
	}
	for _, ok := range []string{
		priced + "  - {path: GET /api/*, upstream: http://u, shadowsPriced: true}\n",
		"  - {path: /api/*, upstream: http://u, shadowsPriced: true}\n" + priced,
		priced + "  - {path: POST /api/*, upstream: http://u}\n",
		priced + "  - {path: /free/*, upstream: http://u}\n",
		priced + "  - {path: /api/other, upstream: http://u}\n",
	} {
		if err := validateRoutes(t, ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestTimeoutsConfig(t *testing.T) {
	c, err := gateway.Parse("gw.yaml", []byte("routes: [{path: /a/*, upstream: http://u}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (gateway.Timeouts{ReadHeader: 10 * time.Second, Read: 10 * time.Minute, Idle: 2 * time.Minute}); c.Timeouts != want {
		t.Errorf("default timeouts %+v, want %+v", c.Timeouts, want)
	}
	c, err = gateway.Parse("gw.yaml", []byte("timeouts: {readHeader: 5s, read: 1h, write: 30s, idle: 1m}\nroutes: [{path: /a/*, upstream: http://u}]\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (gateway.Timeouts{ReadHeader: 5 * time.Second, Read: time.Hour, Write: 30 * time.Second, Idle: time.Minute}); c.Timeouts != want {
		t.Errorf("timeouts %+v, want %+v", c.Timeouts, want)
	}
	c, err = gateway.Parse("gw.yaml", []byte("timeouts: {write: -1s}\nroutes: [{path: /a/*, upstream: http://u}]\n"), nil)
	if err == nil {
		err = c.Validate()
	}
	if err == nil || !strings.Contains(err.Error(), "timeouts.write: must not be negative") {
		t.Errorf("negative write timeout: %v", err)
	}
}
