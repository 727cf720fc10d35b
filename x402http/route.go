package x402http

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go402/go402/internal/routepattern"
	"github.com/go402/go402/x402"
)

// compiledRoute is a Route with its pattern parsed and, for a route with
// static prices, its requirements and 402 answer built once.
type compiledRoute struct {
	Route
	pat *routepattern.Pattern
	// static is set when the route has no Price func: the requirements do
	// not depend on the request.
	static *staticAnswer
	// units are the unit prices of the options, by index, for metered
	// payments (nil: the route has none).
	units []x402.Amount
	// limiter applies the route's RateLimits; nil if it has none.
	limiter *RateLimiter
}

// RoutePattern makes compiledRoute a routepattern.Route: every route of
// the middleware is priced.
func (c *compiledRoute) RoutePattern() (*routepattern.Pattern, bool) { return c.pat, true }

// compile parses "[METHOD ]PATH" (the grammar of package routepattern).
func compile(r Route) (*compiledRoute, error) {
	pat, err := routepattern.Parse(r.Pattern)
	if err != nil {
		return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
	}
	if err := declareDiscovery(&r, pat.Method); err != nil { // see discovery.go
		return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
	}
	if err := declarePaymentID(&r); err != nil { // see idempotency.go
		return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
	}
	return &compiledRoute{Route: r, pat: pat}, nil
}

// A request path can be read two ways by the handlers behind the
// middleware: decoded and cleaned (http.FileServer, http.ServeContent and
// most handlers that read r.URL.Path), or split on its literal slashes
// before decoding (Go's ServeMux: "/a/b%2Fc" is the two segments "a" and
// "b/c", and an encoded "%2E%2E" stays a literal ".."). The middleware
// matches both readings (routepattern.Select). When they select the same
// route (or when one selects a route and the other nothing at all) that
// route is charged. When they select different routes, or one a route and
// the other a path priced for another method, the request is ambiguous: an
// encoded separator could make the handler serve one route's resource for
// another route's price, so it is refused with 400 and reaches no handler.

// matchOutcome is what the routes say about a request.
type matchOutcome = routepattern.Outcome

const (
	matchNone        = routepattern.None        // no route: pass through
	matchRoute       = routepattern.Matched     // a route applies
	matchOtherMethod = routepattern.OtherMethod // the path is priced for other methods: 405
	matchAmbiguous   = routepattern.Ambiguous   // the path readings disagree: 400
)

// match returns the route that applies to r.
func (m *Middleware) match(r *http.Request) (*compiledRoute, matchOutcome) {
	i, out := routepattern.Select(m.routes, matchMethod(r), r.URL)
	if i < 0 {
		return nil, out
	}
	return m.routes[i], out
}

// matchMethod is the method r is priced for: its own, upper-cased, or for
// a CORS preflight the method it asks for.
func matchMethod(r *http.Request) string {
	if isPreflight(r) {
		return strings.ToUpper(r.Header.Get("Access-Control-Request-Method"))
	}
	return strings.ToUpper(r.Method)
}

// allowedMethods lists the methods priced routes accept on r's path, for
// the Allow header of a 405.
func (m *Middleware) allowedMethods(r *http.Request) string {
	return routepattern.Allow(m.routes, matchMethod(r), routepattern.Readings(r.URL)...)
}
