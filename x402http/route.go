package x402http

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// compiledRoute is a Route with its pattern parsed.
type compiledRoute struct {
	Route
	method   string   // "" matches every method
	segments []string // lower-cased literals, or "{}" for a parameter
	rest     bool     // the last segment matches the remaining path
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

// canonicalPath is the path used for matching: decoded (net/http already
// decodes URL.Path), backslashes as slashes, cleaned of ".", ".." and
// doubled slashes, without a trailing slash, lower-cased. Matching
// case-insensitively charges for /WEATHER when /weather is priced, which is
// right for servers on case-insensitive file systems.
func canonicalPath(r *http.Request) string {
	p := strings.ReplaceAll(r.URL.Path, "\\", "/")
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	return strings.ToLower(path.Clean(p))
}

// pathReadings returns the ways a downstream router may split the request
// path: the decoded, cleaned path (file servers, most handlers), and the
// escaped path split on literal slashes with each segment decoded
// afterwards (Go's ServeMux: "/a%2Fb" is one segment "a/b", and "%2E%2E"
// stays ".."). A route applies if any reading matches, so an encoded
// separator cannot move a paid resource out of its route.
func pathReadings(r *http.Request) [][]string {
	readings := [][]string{splitPath(canonicalPath(r))}
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
	return append(readings, segs)
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// methodMatches reports whether the route's method allows method (upper
// case). HEAD is allowed where GET is.
func (c *compiledRoute) methodMatches(method string) bool {
	return c.method == "" || c.method == method || (c.method == http.MethodGet && method == http.MethodHead)
}

// pathMatches reports whether the route's path matches segs.
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
