package routepattern

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in     string
		key    string
		method string
		params int
		rest   bool
		prefix int
	}{
		{"/", " /", "", 0, false, 0},
		{"/*", " //*", "", 0, true, 0},
		{"/api/*", " /api/*", "", 0, true, 1},
		{"  GET   /API/Weather/  ", "GET /api/weather", "GET", 0, false, 2},
		{"get /a", "GET /a", "GET", 0, false, 1},
		{"M-SEARCH /upnp", "M-SEARCH /upnp", "M-SEARCH", 0, false, 1},
		{"/a/{id}/b", " /a//b", "", 1, false, 1},
		{"/a/:id/b", " /a//b", "", 1, false, 1},
		{"/a/{x}/{y...}", " /a//*", "", 1, true, 1},
		{"/a/{...}", " /a/*", "", 0, true, 1},
		{"/files/{rest...}", " /files/*", "", 0, true, 1},
		{"//a/", " /a", "", 0, false, 1},
		{"/a:b/c.d/.e/..f", " /a:b/c.d/.e/..f", "", 0, false, 4},
		{"/ÄÖ/{x}", " /äö/", "", 1, false, 1},
	} {
		p, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if p.Key() != tc.key || p.Method != tc.method || p.Params != tc.params || p.Rest != tc.rest || p.Prefix != tc.prefix {
			t.Errorf("Parse(%q) = key %q method %q params %d rest %v prefix %d, want %q %q %d %v %d",
				tc.in, p.Key(), p.Method, p.Params, p.Rest, p.Prefix, tc.key, tc.method, tc.params, tc.rest, tc.prefix)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "required"},
		{"   ", "required"},
		{"api/*", "the path must start with /"},
		{"GET api", "the path must start with /"},
		{"GET", "the path must start with /"},
		{"/a /b", `"/a" is not an HTTP method`},
		{"GE(T /a", `"GE(T" is not an HTTP method`},
		{"/a/*/b", `"*" must be the last segment`},
		{"/a/{x...}/b", `"{x...}" must be the last segment`},
		{"/a/{}", `bad segment "{}"`},
		{"/a/:", `bad segment ":"`},
		{"/a/x*", `bad segment "x*"`},
		{"/a/{x", `bad segment "{x"`},
		{"/a/x}", `bad segment "x}"`},
		{"/a//b", "an empty segment"},
		{"/a/./b", `a "." segment`},
		{"/a/../b", `a ".." segment`},
		{"/a\\b", `bad segment "a\\b"`},
	} {
		p, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want an error with %q", tc.in, p, err, tc.want)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		yes, no []string
	}{
		{"/", []string{"/", "//", "/./"}, []string{"/a"}},
		{"/*", []string{"/", "/a", "/a/b/c"}, nil},
		{"/a", []string{"/a", "/A", "/a/"}, []string{"/", "/b", "/a/b", "/aa"}},
		{"/a/{x}", []string{"/a/b", "/A/Anything/"}, []string{"/a", "/a/b/c", "/b/x"}},
		{"/a/{x}/c", []string{"/a/b/c", "/a/B/C"}, []string{"/a/b", "/a/b/d"}},
		{"/dir/*", []string{"/dir", "/dir/", "/DIR/a/b"}, []string{"/", "/dirx", "/d"}},
		{"/äö/{x}", []string{"/ÄÖ/x", "/äö/y"}, []string{"/ao/x"}},
		// The Kelvin sign lower-cases to k: priced as /k, as a
		// case-insensitive file system would serve it.
		{"/k", []string{"/k", "/K", "/\u212a"}, []string{"/kk"}},
	} {
		p, err := Parse(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range tc.yes {
			if !p.Match(Decoded(&url.URL{Path: path})) {
				t.Errorf("%q does not match %q", tc.pattern, path)
			}
		}
		for _, path := range tc.no {
			if p.Match(Decoded(&url.URL{Path: path})) {
				t.Errorf("%q matches %q", tc.pattern, path)
			}
		}
	}
}

func TestMatchMethod(t *testing.T) {
	get, _ := Parse("get /a")
	any, _ := Parse("/a")
	post, _ := Parse("POST /a")
	for _, tc := range []struct {
		p      *Pattern
		method string
		want   bool
	}{
		{get, "GET", true}, {get, "HEAD", true}, {get, "POST", false}, {get, "OPTIONS", false},
		{any, "DELETE", true}, {any, "BREW", true},
		{post, "POST", true}, {post, "GET", false}, {post, "HEAD", false},
	} {
		if got := tc.p.MatchMethod(tc.method); got != tc.want {
			t.Errorf("%q MatchMethod(%s) = %v", tc.p.Key(), tc.method, got)
		}
	}
}

func TestCleanAndSegments(t *testing.T) {
	for _, tc := range []struct {
		in, clean string
		isClean   bool
	}{
		{"", "/", false},
		{"/", "/", true},
		{"a/b", "/a/b", false},
		{"/a/b/", "/a/b/", true},
		{"/a//b", "/a/b", false},
		{"//a", "/a", false},
		{"/a/./b", "/a/b", false},
		{"/a/../b", "/b", false},
		{"/a/..", "/", false},
		{"/a/.", "/a", false},
		{"/a\\b", "/a/b", false},
		{"/a/..\\..\\b", "/b", false},
		{"/.a/b..", "/.a/b..", true},
		{"/a/...", "/a/...", true},
		{"/A/B/", "/A/B/", true},
	} {
		if got := Clean(tc.in); got != tc.clean {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.clean)
		}
		if got := IsClean(tc.in); got != tc.isClean {
			t.Errorf("IsClean(%q) = %v", tc.in, got)
		}
	}
	for _, tc := range []struct {
		target           string
		decoded, escaped []string
	}{
		{"/", nil, nil},
		{"/A/b/", []string{"a", "b"}, []string{"a", "b"}},
		{"/a/b%2Fc", []string{"a", "b", "c"}, []string{"a", "b/c"}},
		{"/a/%2E%2E/b", []string{"b"}, []string{"a", "..", "b"}},
		{"/a/b%5Cc", []string{"a", "b", "c"}, []string{"a", "b\\c"}},
		{"//a//b", []string{"a", "b"}, []string{"a", "b"}},
		{"/a/../b", []string{"b"}, []string{"a", "..", "b"}},
		{"/%C3%84", []string{"ä"}, []string{"ä"}},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		if got := Decoded(u); !slices.Equal(got, tc.decoded) {
			t.Errorf("Decoded(%s) = %q, want %q", tc.target, got, tc.decoded)
		}
		if got := Escaped(u); !slices.Equal(got, tc.escaped) {
			t.Errorf("Escaped(%s) = %q, want %q", tc.target, got, tc.escaped)
		}
	}
}

func TestStripSegments(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"/v1/a/b", 1, "/a/b"},
		{"/v1/a/b/", 1, "/a/b/"},
		{"/v1/a/b", 2, "/b"},
		{"/v1", 1, "/"},
		{"/v1/", 1, "/"},
		{"/v1/a", 5, "/"},
		{"/a/b", 0, "/a/b"},
	} {
		if got := StripSegments(tc.in, tc.n); got != tc.want {
			t.Errorf("StripSegments(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// For a clean path the allocation-free match agrees with matching the
// decoded segments.
func FuzzMatchClean(f *testing.F) {
	for _, p := range []string{"/a/b/c", "/A/b", "/weather/", "/x/./y", "/x/../y", "/.hidden", "/a..b/", "/ÄÖ/b", "/K", "/\u212a", "/dir/x/y", "/\xff"} {
		f.Add(p)
	}
	var pats []*Pattern
	for _, s := range []string{"/a/{x}", "/a/b/c", "/weather", "/dir/*", "/äö/{x}", "/k", "/", "/\xff", "/{x}/*"} {
		p, err := Parse(s)
		if err != nil {
			f.Fatal(err)
		}
		pats = append(pats, p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !IsClean(path) {
			return
		}
		segs := Decoded(&url.URL{Path: path})
		for _, p := range pats {
			if p.MatchClean(path) != p.Match(segs) {
				t.Fatalf("%q on %q: clean %v, decoded %v", path, p.Key(), p.MatchClean(path), p.Match(segs))
			}
		}
	})
}

// Every pattern Parse accepts matches some request path, and a path built
// from it matches under both readings: a priced route never silently
// matches nothing.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"/", "/api/*", "GET /a/{x}/b", "post /A/:id", "/a//b", "/a/../b", "/a\\b", "/{x...}", "GET\t/a", "/a b/c", "/%2F", "/\xff/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		segs := make([]string, len(p.segs))
		for i, seg := range p.segs {
			if seg == "" {
				seg = "x"
			}
			segs[i] = seg
		}
		u := &url.URL{Path: "/" + strings.Join(segs, "/")}
		if !p.Match(Decoded(u)) || !p.Match(Escaped(u)) {
			t.Fatalf("%q does not match its own path %q: decoded %q, escaped %q", s, u.Path, Decoded(u), Escaped(u))
		}
		if p.Prefix > len(p.segs) || p.Params > len(p.segs) {
			t.Fatalf("%q: prefix %d, params %d of %d segments", s, p.Prefix, p.Params, len(p.segs))
		}
		if q, err := Parse(strings.ToUpper(s)); err == nil && q.Key() != p.Key() && !strings.ContainsFunc(s, func(r rune) bool { return r > 0x7f }) {
			t.Fatalf("%q and its upper case have keys %q and %q", s, p.Key(), q.Key())
		}
	})
}
