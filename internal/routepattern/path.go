package routepattern

import (
	"net/url"
	"path"
	"strings"
)

// Clean is a request path as routes see it: backslashes read as slashes,
// without dot segments or doubled slashes, absolute, with a trailing slash
// kept. Letter case is kept; matching lower-cases it.
func Clean(p string) string {
	p = strings.ReplaceAll(p, "\\", "/")
	trailing := strings.HasSuffix(p, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	c := path.Clean(p)
	if trailing && c != "/" {
		c += "/"
	}
	return c
}

// IsClean reports whether p is already in the form Clean gives apart from
// letter case and a trailing slash: absolute, without backslashes, doubled
// slashes or dot segments. Its segments are then the decoded reading.
func IsClean(p string) bool {
	if p == "" || p[0] != '/' || strings.IndexByte(p, '\\') >= 0 || strings.Contains(p, "//") {
		return false
	}
	for i := 1; i < len(p); i++ {
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

// Segments splits a path on its slashes, leading and trailing slashes
// dropped; nil for the root.
func Segments(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// Decoded is the decoded reading of u's path: u.Path (which net/http has
// decoded) cleaned by Clean, lower-cased, split into segments.
func Decoded(u *url.URL) []string {
	return Segments(strings.ToLower(Clean(u.Path)))
}

// Escaped is the ServeMux reading of u's path: the escaped path split on
// its literal slashes, each segment decoded afterwards and lower-cased,
// empty segments dropped. An encoded "%2F" stays inside its segment and an
// encoded "%2E%2E" is a literal "..".
func Escaped(u *url.URL) []string {
	var segs []string
	for _, s := range strings.Split(strings.Trim(u.EscapedPath(), "/"), "/") {
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

// StripSegments removes the first n segments of a cleaned path, keeping a
// trailing slash: the path a route that strips its Prefix sends on.
func StripSegments(p string, n int) string {
	segs := Segments(p)
	if n >= len(segs) {
		return "/"
	}
	out := "/" + strings.Join(segs[n:], "/")
	if strings.HasSuffix(p, "/") {
		out += "/"
	}
	return out
}
