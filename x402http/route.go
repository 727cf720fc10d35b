package x402http

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// compiledRoute is a Route with its pattern parsed and, for a route with
// static prices, its requirements and 402 answer built once.
type compiledRoute struct {
	Route
	method   string   // "" matches every method
	segments []string // lower-cased literals, or "{}" for a parameter
	rest     bool     // the last segment matches the remaining path
	// static is set when the route has no Price func: the requirements do
	// not depend on the request.
	static *staticAnswer
}

// compile parses "[METHOD ]PATH".
func compile(r Route) (*compiledRoute, error) {
	pat := strings.TrimSpace(r.Pattern)
	c := &compiledRoute{Route: r}
	if m, p, ok := strings.Cut(pat, " "); ok {
		c.method, pat = strings.ToUpper(m), strings.TrimSpace(p)
	}
	if !strings.HasPrefix(pat, "/") {
		return nil, fmt.Errorf("x402http: route %q: path must start with /", r.Pattern)
	}
	parts := splitPath(pat)
	for i, s := range parts {
		last := i == len(parts)-1
		switch {
		case s == "*" || (strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}")):
			if !last {
				return nil, fmt.Errorf("x402http: route %q: %q must be the last segment", r.Pattern, s)
			}
			c.rest = true
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"), strings.HasPrefix(s, ":"):
			c.segments = append(c.segments, "{}")
		case strings.ContainsAny(s, "{}*"):
			return nil, fmt.Errorf("x402http: route %q: bad segment %q", r.Pattern, s)
		default:
			c.segments = append(c.segments, strings.ToLower(s))
		}
	}
	return c, nil
}

// A request path can be read two ways by the handlers behind the
// middleware:
//
//   - decoded and cleaned (r.URL.Path with "%2F" decoded to "/", "\" read as
//     "/", dot segments and doubled slashes removed): http.FileServer,
//     http.ServeContent and most handlers that read r.URL.Path;
//   - escaped, split on the literal slashes, each segment decoded afterwards
//     (Go's ServeMux: "/a/b%2Fc" is the two segments "a" and "b/c", and an
//     encoded "%2E%2E" stays a literal "..").
//
// The middleware matches both readings. When they select the same route (or
// when one selects a route and the other nothing at all) that route is
// charged. When they select different routes, or one a route and the other
// a path priced for another method, the request is ambiguous: an encoded
// separator could make the handler serve one route's resource for another
// route's price, so it is refused with 400 and reaches no handler.

// matchOutcome is what the routes say about a request.
type matchOutcome int

const (
	matchNone        matchOutcome = iota // no route: pass through
	matchRoute                           // a route applies
	matchOtherMethod                     // the path is priced for other methods: 405
	matchAmbiguous                       // the path readings disagree: 400
)

// match returns the route that applies to r.
func (m *Middleware) match(r *http.Request) (*compiledRoute, matchOutcome) {
	method := strings.ToUpper(r.Method)
	if isPreflight(r) {
		method = strings.ToUpper(r.Header.Get("Access-Control-Request-Method"))
	}
	if r.URL.RawPath == "" && isCleanPath(r.URL.Path) {
		// Both readings are the segments of r.URL.Path: match once, without
		// allocating.
		return toMatch(m.matchPath(method, r.URL.Path))
	}
	decoded, decodedOther := m.matchSegments(method, splitPath(canonicalPath(r)))
	escaped, escapedOther := m.matchSegments(method, escapedSegments(r))
	switch {
	case decoded == escaped:
		return toMatch(decoded, decodedOther || escapedOther)
	case decoded == nil && !decodedOther:
		return escaped, matchRoute
	case escaped == nil && !escapedOther:
		return decoded, matchRoute
	}
	return nil, matchAmbiguous
}

func toMatch(c *compiledRoute, otherMethod bool) (*compiledRoute, matchOutcome) {
	switch {
	case c != nil:
		return c, matchRoute
	case otherMethod:
		return nil, matchOtherMethod
	}
	return nil, matchNone
}

// matchPath is matchSegments for a clean path, without splitting it.
func (m *Middleware) matchPath(method, p string) (route *compiledRoute, otherMethod bool) {
	for _, c := range m.routes {
		if !c.pathMatchesString(p) {
			continue
		}
		if c.methodMatches(method) {
			return c, otherMethod
		}
		otherMethod = true
	}
	return nil, otherMethod
}

// matchSegments returns the first route matching method and the lower-cased
// path segments segs, and whether a route matches segs for another method.
func (m *Middleware) matchSegments(method string, segs []string) (route *compiledRoute, otherMethod bool) {
	for _, c := range m.routes {
		if !c.pathMatches(segs) {
			continue
		}
		if c.methodMatches(method) {
			return c, otherMethod
		}
		otherMethod = true
	}
	return nil, otherMethod
}

// allowedMethods lists the methods priced routes accept on r's path, for
// the Allow header of a 405.
func (m *Middleware) allowedMethods(r *http.Request) string {
	readings := [][]string{splitPath(canonicalPath(r)), escapedSegments(r)}
	var out []string
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	for _, c := range m.routes {
		for _, segs := range readings {
			if c.pathMatches(segs) && c.method != "" {
				add(c.method)
				if c.method == http.MethodGet {
					add(http.MethodHead)
				}
			}
		}
	}
	return strings.Join(out, ", ")
}

// isCleanPath reports whether p is already in canonical form apart from
// letter case and a trailing slash: absolute, without backslashes, doubled
// slashes or dot segments.
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' || strings.IndexByte(p, '\\') >= 0 || strings.Contains(p, "//") {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '.' || p[i-1] != '/' {
			continue
		}
		// A segment starting with a dot: "." or ".." only are dot segments.
		rest := p[i:]
		if rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
			return false
		}
	}
	return true
}

// canonicalPath is the decoded path cleaned for matching: net/http already
// decoded URL.Path; backslashes are read as slashes, and ".", ".." and
// doubled slashes are removed. Matching is case-insensitive, which charges
// for /WEATHER when /weather is priced, as a server on a case-insensitive
// file system would serve it.
func canonicalPath(r *http.Request) string {
	p := strings.ReplaceAll(r.URL.Path, "\\", "/")
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return strings.ToLower(path.Clean(p))
}

// escapedSegments is the ServeMux reading of r's path: the escaped path
// split on literal slashes, each segment decoded afterwards, lower-cased,
// empty segments dropped.
func escapedSegments(r *http.Request) []string {
	var segs []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		if s == "" {
			continue
		}
		if d, err := url.PathUnescape(s); err == nil {
			s = d
		}
		segs = append(segs, strings.ToLower(s))
	}
	return segs
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// methodMatches reports whether the route's method allows method (upper
// case). HEAD is allowed where GET is, as in net/http.
func (c *compiledRoute) methodMatches(method string) bool {
	return c.method == "" || c.method == method || (c.method == http.MethodGet && method == http.MethodHead)
}

// pathMatches reports whether the route's path matches the lower-cased
// segments segs.
func (c *compiledRoute) pathMatches(segs []string) bool {
	if c.rest {
		if len(segs) < len(c.segments) {
			return false
		}
	} else if len(segs) != len(c.segments) {
		return false
	}
	for i, s := range c.segments {
		if s != "{}" && s != segs[i] {
			return false
		}
	}
	return true
}

// pathMatchesString is pathMatches for a clean path (see isCleanPath),
// compared case-insensitively segment by segment.
func (c *compiledRoute) pathMatchesString(p string) bool {
	p = strings.Trim(p, "/")
	for _, s := range c.segments {
		if p == "" {
			return false
		}
		seg := p
		if i := strings.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		if s != "{}" && !equalFoldLower(seg, s) {
			return false
		}
	}
	return c.rest || p == ""
}

// equalFoldLower reports whether s lower-cased is lower, which is already
// lower case; as strings.ToLower(s) == lower, without allocating for ASCII.
func equalFoldLower(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return strings.ToLower(s) == lower
		}
	}
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != lower[i] {
			return false
		}
	}
	return true
}
