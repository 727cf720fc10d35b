package routepattern

import (
	"slices"
	"strings"
	"unicode"
)

// Loosen reviews the outcome (i, out) of the exact readings of a request
// (see [Select] and [Pick]) against the lenient readings of its segments
// segs (lower-cased, as [Decoded] or [Escaped] give them; see "Lenient
// readings" in the package documentation). When one of them selects a
// priced route other than route i, it returns that route, [Matched];
// when one is priced for other methods only and route i is not priced,
// [OtherMethod]; and [Ambiguous] when trimming whitespace was needed for
// either, or the lenient readings select different priced routes.
// Otherwise, and when out is already [Ambiguous] or [OtherMethod], it
// returns (i, out).
func Loosen[R Route](routes []R, method string, i int, out Outcome, segs ...[]string) (int, Outcome) {
	if out == Ambiguous || out == OtherMethod {
		return i, out
	}
	exactPriced := i >= 0 && priced(routes[i])
	target, other, ambiguous := -1, false, false
	for _, s := range segs {
		for _, r := range lenientReadings(s) {
			j, jOther := Pick(routes, method, r.segs)
			switch {
			case j == i || j >= 0 && !priced(routes[j]) || j < 0 && (!jOther || exactPriced):
				continue
			case r.trimmed:
				ambiguous = true
			case j < 0:
				other = true
			case target >= 0 && target != j:
				ambiguous = true
			default:
				target = j
			}
		}
	}
	switch {
	case ambiguous || target >= 0 && other:
		return -1, Ambiguous
	case target >= 0:
		return target, Matched
	case other:
		return -1, OtherMethod
	}
	return i, out
}

// LenientSegments are the lenient readings of segs that differ from it,
// for the Allow header of a 405 from [Loosen] (see [Allow]).
func LenientSegments(segs []string) [][]string {
	var out [][]string
	for _, r := range lenientReadings(segs) {
		out = append(out, r.segs)
	}
	return out
}

func priced[R Route](r R) bool {
	_, p := r.RoutePattern()
	return p
}

// reading is one lenient reading of a path.
type reading struct {
	segs    []string
	trimmed bool // trailing whitespace had to be removed
}

// lenientReadings returns the readings of segs that a lenient server may
// map to another resource: each segment without its ";" parameters, and
// the last one also without each "." suffix (".json", ".tar.gz", ".gz"
// of it); then the same with trailing whitespace and control characters
// removed from every segment, when there were any. The readings equal to
// segs are left out; nil when there are none.
func lenientReadings(segs []string) []reading {
	if !mayLoosen(segs) {
		return nil
	}
	var out []reading
	add := func(base []string, trimmed bool) {
		last := base[len(base)-1]
		for k := len(last); k > 0; k = strings.LastIndexByte(last[:k], '.') {
			r := append(append([]string(nil), base[:len(base)-1]...), last[:k])
			if !slices.Equal(r, segs) {
				out = append(out, reading{segs: r, trimmed: trimmed})
			}
		}
	}
	var params, trim []string
	spaced := false
	for _, s := range segs {
		if k := strings.IndexByte(s, ';'); k >= 0 {
			s = s[:k]
		}
		t := strings.TrimRightFunc(s, isBlank)
		spaced = spaced || t != s
		// A segment left empty ("/a/;x/b") is dropped, as a doubled
		// slash is when the path is cleaned.
		if s != "" {
			params = append(params, s)
		}
		if t != "" {
			trim = append(trim, t)
		}
	}
	if len(params) > 0 {
		add(params, false)
	}
	if spaced && len(trim) > 0 {
		add(trim, true)
	}
	return out
}

// mayLoosen reports whether segs has a lenient reading: a ";", a "." in
// the last segment, or a byte that may be whitespace or a control
// character.
func mayLoosen(segs []string) bool {
	if len(segs) == 0 {
		return false
	}
	if strings.IndexByte(segs[len(segs)-1], '.') > 0 {
		return true
	}
	for _, s := range segs {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == ';' || c <= ' ' || c >= 0x7f {
				return true
			}
		}
	}
	return false
}

// mayLoosenClean is mayLoosen for a path that [IsClean] accepts, without
// allocating.
func mayLoosenClean(p string) bool {
	last := p[strings.LastIndexByte(strings.TrimRight(p, "/"), '/')+1:]
	if strings.IndexByte(last, '.') > 0 {
		return true
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c == ';' || c <= ' ' || c >= 0x7f {
			return true
		}
	}
	return false
}

// isBlank reports whether r is whitespace or a control character.
func isBlank(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
