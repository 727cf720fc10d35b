package gateway

import (
	"encoding/json"
	"net/http"
	"path"
	"strings"

	"github.com/go402/go402/internal/routepattern"
)

// The gateway's routes use the grammar and the selection rules of package
// routepattern, the x402http middleware's too. The router matches the
// cleaned, decoded path only, and hands exactly that path on to the
// route's middleware and handler, so that nothing behind it reads the
// request path another way.

// RouteFor returns the index in c.Routes of the route the gateway serves a
// request with method for urlPath with, as its router decides, or false if
// none does (not found, /health, /ready or the healthPath alias, or a
// method a priced route does not take). c must be valid.
func (c *Config) RouteFor(method, urlPath string) (int, bool) {
	lower := strings.ToLower(routepattern.Clean(urlPath))
	if probes(strings.TrimSuffix(lower, "/"), strings.ToLower(path.Clean(c.HealthPath))) != "" {
		return 0, false
	}
	routes := make([]*route, len(c.Routes))
	for i := range c.Routes {
		pat, _ := routepattern.Parse(c.Routes[i].Path) // valid: checked by Validate
		routes[i] = &route{pat: pat, priced: !c.Routes[i].Free()}
	}
	i, _ := pick(routes, strings.ToUpper(method), routepattern.Segments(lower))
	return i, i >= 0
}

// pick selects the route of the cleaned, lower-cased segments segs,
// checking their lenient readings too (see routepattern.Loosen): a path
// that an upstream may map to a priced route by dropping ";" parameters
// or a ".json" suffix is that route's, and one it may map by trimming
// whitespace is refused.
func pick(routes []*route, method string, segs []string) (int, routepattern.Outcome) {
	i, other := routepattern.Pick(routes, method, segs)
	out := routepattern.Matched
	switch {
	case i < 0 && other:
		out = routepattern.OtherMethod
	case i < 0:
		out = routepattern.None
	}
	return routepattern.Loosen(routes, method, i, out, segs)
}

// router dispatches requests to the first matching route.
type router struct {
	health string // lower-cased, cleaned: the deprecated healthPath alias of /health
	probe  func(w http.ResponseWriter, r *http.Request, which string)
	routes []*route
}

type route struct {
	pat     *routepattern.Pattern
	priced  bool
	handler http.Handler
}

// RoutePattern makes route a routepattern.Route.
func (r *route) RoutePattern() (*routepattern.Pattern, bool) { return r.pat, r.priced }

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := routepattern.Clean(r.URL.Path)
	lower := strings.ToLower(p)
	// Methods are matched in upper case, whatever the client sent, and the
	// upstream gets the method that was matched (and priced).
	method := strings.ToUpper(r.Method)
	if which := probes(strings.TrimSuffix(lower, "/"), rt.health); which != "" {
		r2 := r.Clone(r.Context())
		r2.Method = method
		rt.probe(w, r2, which)
		return
	}
	want := method
	if method == http.MethodOptions {
		if m := r.Header.Get("Access-Control-Request-Method"); m != "" {
			want = strings.ToUpper(m)
		}
	}
	segs := routepattern.Segments(lower)
	i, out := pick(rt.routes, want, segs)
	switch out {
	case routepattern.Matched:
		// Hand on the path that was matched (and priced), so that nothing
		// downstream interprets the raw one differently.
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path, u.RawPath = p, ""
		r2.URL = &u
		r2.Method = method
		rt.routes[i].handler.ServeHTTP(w, r2)
	case routepattern.OtherMethod:
		readings := append([][]string{segs}, routepattern.LenientSegments(segs)...)
		w.Header().Set("Allow", routepattern.Allow(rt.routes, want, readings...))
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed on a paid route"})
	case routepattern.Ambiguous:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "ambiguous path: an upstream may read it as a paid route's"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	}
}

func writeJSON(w http.ResponseWriter, status int, v map[string]string) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"internal error"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
