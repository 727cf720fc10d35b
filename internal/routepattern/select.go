package routepattern

import (
	"net/http"
	"net/url"
	"strings"
)

// Route is one entry of an ordered route list.
type Route interface {
	// RoutePattern returns the route's pattern and whether the route is
	// priced.
	RoutePattern() (pat *Pattern, priced bool)
}

// Pick returns the index of the route that serves a request with the
// upper-case method and the lower-cased path segments segs: the first route
// whose path and method match, except that once a priced route has the
// path for other methods a later free route does not serve it. It returns
// -1 when no route applies, and whether a priced route has the path for
// other methods (the request then gets 405, with [Allow]).
func Pick[R Route](routes []R, method string, segs []string) (int, bool) {
	return pick(routes, method, func(p *Pattern) bool { return p.Match(segs) })
}

// PickClean is Pick for a path that [IsClean] accepts, without allocating.
func PickClean[R Route](routes []R, method, path string) (int, bool) {
	return pick(routes, method, func(p *Pattern) bool { return p.MatchClean(path) })
}

func pick[R Route](routes []R, method string, matches func(*Pattern) bool) (int, bool) {
	otherMethod := false
	for i, r := range routes {
		pat, priced := r.RoutePattern()
		if !matches(pat) {
			continue
		}
		if !pat.MatchMethod(method) {
			otherMethod = otherMethod || priced
			continue
		}
		if !priced && otherMethod {
			break
		}
		return i, false
	}
	return -1, otherMethod
}

// Outcome is what the routes say about a request.
type Outcome int

const (
	None        Outcome = iota // no route applies
	Matched                    // a route applies
	OtherMethod                // a priced route has the path for other methods: 405
	Ambiguous                  // the two readings of the path disagree: 400
)

// Select picks the route of a request with the upper-case method for u,
// matching both readings of its path ([Decoded] and [Escaped]). When they
// pick the same route, or one picks a route and the other nothing at all,
// that route applies. When they pick different routes, or one a route and
// the other a path priced for other methods, the outcome is [Ambiguous]:
// the request must be refused, since a handler reading the path one way
// would serve one route's resource for the other route's price. The index
// is -1 unless the outcome is [Matched].
//
// The lenient readings of the path are then checked by [Loosen].
func Select[R Route](routes []R, method string, u *url.URL) (int, Outcome) {
	if u.RawPath == "" && IsClean(u.Path) {
		// Both readings are the segments of u.Path: match once, without
		// allocating unless the path has a lenient reading.
		i, out := outcome(PickClean(routes, method, u.Path))
		if !mayLoosenClean(u.Path) {
			return i, out
		}
		return Loosen(routes, method, i, out, Decoded(u))
	}
	dsegs, esegs := Decoded(u), Escaped(u)
	i, out := selectExact(routes, method, dsegs, esegs)
	return Loosen(routes, method, i, out, dsegs, esegs)
}

// selectExact is Select without the lenient readings.
func selectExact[R Route](routes []R, method string, dsegs, esegs []string) (int, Outcome) {
	decoded, decodedOther := Pick(routes, method, dsegs)
	escaped, escapedOther := Pick(routes, method, esegs)
	switch {
	case decoded == escaped:
		return outcome(decoded, decodedOther || escapedOther)
	case decoded < 0 && !decodedOther:
		return escaped, Matched
	case escaped < 0 && !escapedOther:
		return decoded, Matched
	}
	return -1, Ambiguous
}

func outcome(i int, otherMethod bool) (int, Outcome) {
	switch {
	case i >= 0:
		return i, Matched
	case otherMethod:
		return -1, OtherMethod
	}
	return -1, None
}

// Allow is the Allow header of a 405 from Pick or Select: the methods of
// the priced routes that have the path, in any of readings (with
// [LenientSegments] for a 405 from [Loosen]), for methods
// other than method, up to where Pick stops (GET followed by HEAD), joined
// by ", ".
func Allow[R Route](routes []R, method string, readings ...[]string) string {
	var out []string
	add := func(m string) {
		for _, o := range out {
			if o == m {
				return
			}
		}
		out = append(out, m)
	}
	stopped := make([]bool, len(readings))
	for _, r := range routes {
		pat, priced := r.RoutePattern()
		for j, segs := range readings {
			if stopped[j] || !pat.Match(segs) {
				continue
			}
			switch {
			case pat.MatchMethod(method):
				// Pick stops here: this route serves the reading, or
				// (free, after a priced route) the request gets 405.
				stopped[j] = true
			case priced:
				add(pat.Method)
				if pat.Method == http.MethodGet {
					add(http.MethodHead)
				}
			}
		}
	}
	return strings.Join(out, ", ")
}

// Readings are the readings of u's path that [Select] matches, [Decoded]
// and [Escaped] and their [LenientSegments], for [Allow].
func Readings(u *url.URL) [][]string {
	d, e := Decoded(u), Escaped(u)
	out := [][]string{d, e}
	out = append(out, LenientSegments(d)...)
	return append(out, LenientSegments(e)...)
}
