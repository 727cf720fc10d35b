// Package routepattern owns go402's one route grammar, "[METHOD ]PATH", and
// how a request is matched against an ordered list of such routes. The
// x402http middleware (which prices requests) and the gateway (which routes
// them to upstreams and directories) both use it, so that a request is
// never served by one route and priced by another.
//
// # Patterns
//
// METHOD is an HTTP method, compared case-insensitively; a GET pattern also
// matches HEAD, as in net/http; without METHOD a pattern matches every
// method. PATH starts with "/" and has literal segments, compared
// case-insensitively, "{name}" (or ":name") parameters matching one
// segment, and a final "*" or "{name...}" matching the rest of the path,
// none included. A pattern that no cleaned request path could match (an
// empty segment, as in "/a//b", a "." or ".." segment, or a backslash) is
// refused rather than left to never match: a priced route that never
// matches would leave its resource free.
//
// # Selection
//
// Routes are tried in order and the first whose path and method match
// applies ([Pick]). A path that a priced route has for other methods only
// is not served by a later free route: the request gets 405 with the
// methods of [Allow], because an upstream or a file server may ignore the
// method.
//
// # Readings of a request path
//
// A handler may read a request path two ways: decoded and cleaned
// ([Decoded]: "%2F" is a slash, "\" reads as "/", dot segments and doubled
// slashes are removed), or split on its literal slashes before decoding
// ([Escaped]: what Go's ServeMux does, "b%2Fc" is one segment). [Select]
// matches both and reports [Ambiguous] when they select different routes,
// so that an encoded separator cannot buy one route's resource at another
// route's price. A router that hands its handlers the cleaned path (the
// gateway) has one reading only, and uses [Pick] on [Decoded].
//
// # Lenient readings
//
// Servers behind a router often map more request paths to a resource than
// its route's pattern spells: Tomcat and Jetty drop ";name=value" path
// parameters from every segment ("/api/premium;jsessionid=1"), Spring's
// suffix matching serves "/api/premium.json" from the handler of
// "/api/premium", and some servers trim trailing whitespace
// ("/api/premium%20"). A request whose exact reading selects a free route,
// no route, or a cheaper priced one, while such a lenient reading selects
// a priced route, would otherwise reach that priced resource free or
// cheaply. [Loosen] (which [Select] applies) checks these readings:
//
//   - without the ";" parameters of each segment, and without a "."
//     suffix of the last segment (".json", ".xml", ".tar.gz"): the request
//     is treated as the priced route, and charged its price;
//   - with whitespace or control characters (%20, %09, %00...) trimmed
//     from the end of each segment: the request is [Ambiguous], refused
//     with 400, since no client has a reason to send them;
//   - a lenient reading priced for other methods only gives
//     [OtherMethod] (405), unless the exact reading is priced.
package routepattern

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Pattern is a compiled "[METHOD ]PATH".
type Pattern struct {
	// Method is the upper-case method, or "" for every method.
	Method string
	// Params counts the "{name}" segments.
	Params int
	// Rest is set when the pattern ends in "*" or "{name...}".
	Rest bool
	// Prefix counts the leading literal segments: what a route that strips
	// its prefix removes.
	Prefix int

	segs []string // lower-cased literals; "" for a parameter
}

// Parse compiles a pattern "[METHOD ]PATH". Its errors name the problem
// without the pattern, for the caller to place.
func Parse(s string) (*Pattern, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("required, such as /api/* or \"GET /api/*\"")
	}
	p := &Pattern{}
	if m, rest, ok := strings.Cut(s, " "); ok {
		p.Method, s = strings.ToUpper(m), strings.TrimSpace(rest)
		if !isToken(p.Method) {
			return nil, fmt.Errorf("%q is not an HTTP method", m)
		}
	}
	if !strings.HasPrefix(s, "/") {
		return nil, errors.New("the path must start with /")
	}
	literal := true
	parts := Segments(s)
	for i, seg := range parts {
		last := i == len(parts)-1
		switch {
		case seg == "*" || strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "...}"):
			if !last {
				return nil, fmt.Errorf("%q must be the last segment", seg)
			}
			p.Rest = true
			literal = false
		case seg == "{}" || seg == ":":
			return nil, fmt.Errorf("bad segment %q: a parameter needs a name, as in {name}", seg)
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"), strings.HasPrefix(seg, ":"):
			p.segs = append(p.segs, "")
			p.Params++
			literal = false
		case strings.ContainsAny(seg, "{}*"):
			return nil, fmt.Errorf("bad segment %q: a parameter is {name}, the rest of the path * or {name...}", seg)
		case seg == "":
			return nil, errors.New("an empty segment (a doubled slash): no cleaned request path has one")
		case seg == "." || seg == "..":
			return nil, fmt.Errorf("a %q segment: no cleaned request path has one", seg)
		case strings.Contains(seg, "\\"):
			return nil, fmt.Errorf("bad segment %q: a backslash reads as a slash in a cleaned request path", seg)
		default:
			p.segs = append(p.segs, strings.ToLower(seg))
			if literal {
				p.Prefix++
			}
		}
	}
	return p, nil
}

// isToken reports whether s is an HTTP method name: a token (RFC 9110).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Key identifies the requests p matches: two patterns with the same key
// (such as "/a/*" and "/A/{rest...}") match the same requests.
func (p *Pattern) Key() string {
	k := p.Method + " /" + strings.Join(p.segs, "/")
	if p.Rest {
		k += "/*"
	}
	return k
}

// MatchMethod reports whether p applies to the upper-case method. A GET
// pattern matches HEAD too.
func (p *Pattern) MatchMethod(method string) bool {
	return p.Method == "" || p.Method == method || (p.Method == http.MethodGet && method == http.MethodHead)
}

// Match reports whether p's path matches the lower-cased segments segs of
// a request path (see [Decoded] and [Escaped]).
func (p *Pattern) Match(segs []string) bool {
	if len(segs) < len(p.segs) || (!p.Rest && len(segs) != len(p.segs)) {
		return false
	}
	for i, s := range p.segs {
		if s != "" && s != segs[i] {
			return false
		}
	}
	return true
}

// MatchClean is Match for a path that [IsClean] accepts, compared
// case-insensitively segment by segment without allocating.
func (p *Pattern) MatchClean(path string) bool {
	path = strings.Trim(path, "/")
	for _, s := range p.segs {
		if path == "" {
			return false
		}
		seg := path
		if i := strings.IndexByte(path, '/'); i >= 0 {
			seg, path = path[:i], path[i+1:]
		} else {
			path = ""
		}
		if s != "" && !equalFoldLower(seg, s) {
			return false
		}
	}
	return p.Rest || path == ""
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

// Overlaps reports whether some request matches both p and q: a method
// both take and a path both match.
func (p *Pattern) Overlaps(q *Pattern) bool {
	if !methodsOverlap(p.Method, q.Method) {
		return false
	}
	for i := range min(len(p.segs), len(q.segs)) {
		if a, b := p.segs[i], q.segs[i]; a != "" && b != "" && a != b {
			return false
		}
	}
	switch {
	case len(p.segs) < len(q.segs):
		return p.Rest
	case len(p.segs) > len(q.segs):
		return q.Rest
	}
	return true
}

// methodsOverlap reports whether a request method matches both pattern
// methods a and b.
func methodsOverlap(a, b string) bool {
	switch {
	case a == "" || b == "" || a == b:
		return true
	case a == http.MethodGet && b == http.MethodHead, a == http.MethodHead && b == http.MethodGet:
		return true
	}
	return false
}
