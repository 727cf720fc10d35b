package routepattern

import (
	"net/url"
	"strings"
	"testing"
)

// testRoute is a route of a table under test.
type testRoute struct {
	pat    *Pattern
	priced bool
	name   string
}

func (r testRoute) RoutePattern() (*Pattern, bool) { return r.pat, r.priced }

// table compiles "PATTERN" (priced) or "free PATTERN" entries.
func table(t testing.TB, entries ...string) []testRoute {
	t.Helper()
	var out []testRoute
	for _, e := range entries {
		s, free := strings.CutPrefix(e, "free ")
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("%q: %v", e, err)
		}
		out = append(out, testRoute{pat: p, priced: !free, name: e})
	}
	return out
}

// The gateway's selection: first match wins, and a free route never serves
// a path a priced route before it has for other methods.
func TestPick(t *testing.T) {
	routes := table(t, "GET /api/premium/*", "free /api/*", "POST /doc", "GET /doc", "free PUT /doc", "DELETE /doc", "free /files/*", "PUT /files/x")
	for _, tc := range []struct {
		method, path string
		want         int
		other        bool
		allow        string
	}{
		{"GET", "/api/premium/x", 0, false, ""},
		{"HEAD", "/API/Premium/x", 0, false, ""},
		{"POST", "/api/premium/x", -1, true, "GET, HEAD"},
		{"OPTIONS", "/api/premium", -1, true, "GET, HEAD"},
		{"POST", "/api/other", 1, false, ""},
		{"POST", "/doc", 2, false, ""},
		{"GET", "/doc", 3, false, ""},
		{"HEAD", "/doc", 3, false, ""},
		// The free PUT route follows priced routes with other methods:
		// 405, listing only the routes before it.
		{"PUT", "/doc", -1, true, "POST, GET, HEAD"},
		{"DELETE", "/doc", 5, false, ""},
		{"PATCH", "/doc", -1, true, "POST, GET, HEAD, DELETE"},
		// A free route first serves the path in every method: the later
		// priced route never applies.
		{"PUT", "/files/x", 6, false, ""},
		{"GET", "/nowhere", -1, false, ""},
		{"GET", "/", -1, false, ""},
	} {
		segs := Decoded(&url.URL{Path: tc.path})
		i, other := Pick(routes, tc.method, segs)
		if i != tc.want || other != tc.other {
			t.Errorf("Pick(%s %s) = %d, %v; want %d, %v", tc.method, tc.path, i, other, tc.want, tc.other)
		}
		if i < 0 && other {
			if got := Allow(routes, tc.method, segs); got != tc.allow {
				t.Errorf("Allow(%s %s) = %q, want %q", tc.method, tc.path, got, tc.allow)
			}
		}
	}
}

// The middleware's selection over both readings of the path.
func TestSelect(t *testing.T) {
	routes := table(t, "GET /a/{x}", "GET /a/b/c", "/files/{name}", "POST /p/b/c", "GET /p/{x}", "GET /weather", "/dir/*", "PUT /q/{x}", "GET /q/b/c")
	for _, tc := range []struct {
		method, target string
		want           string // the route's pattern, or "405", "400", ""
		allow          string
	}{
		{"GET", "/a/x", "GET /a/{x}", ""},
		{"HEAD", "/a/b/c", "GET /a/b/c", ""},
		{"HEAD", "/A/B/C/", "GET /a/b/c", ""},
		{"POST", "/a/x", "405", "GET, HEAD"},
		{"GET", "/a/b%2Fc", "400", ""},
		{"GET", "/a/b%2fc", "400", ""},
		{"GET", "/a/b%5cc", "400", ""},
		{"GET", "/a/b\\c", "400", ""},
		// The decoded reading has no route, the escaped one has: charged.
		{"GET", "/files/a%2Fb", "/files/{name}", ""},
		{"GET", "/files/a", "/files/{name}", ""},
		// One reading is priced for POST only, the other is GET /p/{x}.
		{"GET", "/p/b%2Fc", "400", ""},
		// Both readings have the path for other methods only.
		{"DELETE", "/q/b%2Fc", "405", "PUT, GET, HEAD"},
		{"GET", "/x/../weather", "GET /weather", ""},
		{"GET", "/x/%2E%2E/weather", "GET /weather", ""},
		{"GET", "//weather", "GET /weather", ""},
		{"GET", "/./weather/.", "GET /weather", ""},
		{"GET", "/WEATHER", "GET /weather", ""},
		// A trailing dot is an empty suffix: some servers drop it, so it
		// is charged as the route (see TestSelectLenient).
		{"GET", "/weather.", "GET /weather", ""},
		{"GET", "/.weather", "", ""},
		{"GET", "/dir", "/dir/*", ""},
		{"GET", "/dir/a/b", "/dir/*", ""},
		{"GET", "/dir%2Fa", "/dir/*", ""},
		{"GET", "/other", "", ""},
		{"GET", "/", "", ""},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		i, out := Select(routes, tc.method, u)
		got := ""
		switch out {
		case Matched:
			got = routes[i].name
		case OtherMethod:
			got = "405"
		case Ambiguous:
			got = "400"
		}
		if got != tc.want || (out != Matched && i != -1) {
			t.Errorf("%s %s: %q (%d), want %q", tc.method, tc.target, got, i, tc.want)
		}
		if out == OtherMethod {
			if a := Allow(routes, tc.method, Decoded(u), Escaped(u)); a != tc.allow {
				t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.target, a, tc.allow)
			}
		}
	}
}

// Matching never panics, and a request is never served by a route that one
// reading of its path selects while the other reading selects another
// route or a path priced for other methods. The allocation-free path for
// clean paths decides as the two readings do.
func FuzzSelect(f *testing.F) {
	for _, s := range []struct{ method, target string }{
		{"GET", "/a/b%2Fc"}, {"get", "/A/B/C/"}, {"POST", "/p/b%2Fc"}, {"GET", "/files/2024%2Fq1"},
		{"HEAD", "/x/%2E%2E/weather"}, {"DELETE", "//weather"}, {"GET", "/dir%2F..%2F..%2Fa"},
		{"PUT", "/q/b%5Cc"}, {"GET", "/free/../a/b/c"}, {"OPTIONS", "/%zz"}, {"GET", "/a/%2e%2e/a/b/c"},
	} {
		f.Add(s.method, s.target)
	}
	routes := table(f, "GET /a/{x}", "GET /a/b/c", "/files/{name}", "POST /p/b/c", "GET /p/{x}", "GET /weather",
		"/dir/*", "PUT /q/{x}", "GET /q/b/c", "free /free/*", "GET /{x}/b/{y...}", "free GET /open/{x}")
	f.Fuzz(func(t *testing.T, method, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		method = strings.ToUpper(method)
		i, out := Select(routes, method, u)
		decoded, escaped := Decoded(u), Escaped(u)
		di, dOther := Pick(routes, method, decoded)
		ei, eOther := Pick(routes, method, escaped)
		switch out {
		case Matched:
			if i < 0 || i >= len(routes) || !routes[i].pat.MatchMethod(method) {
				t.Fatalf("%s %s: matched route %d", method, target, i)
			}
			// Each reading selects this route, or nothing at all.
			for _, r := range []struct {
				i     int
				other bool
			}{{di, dOther}, {ei, eOther}} {
				if r.i != i && (r.i >= 0 || r.other) {
					t.Fatalf("%s %s: served by %q, a reading selects %d (other methods %v)", method, target, routes[i].name, r.i, r.other)
				}
			}
		case None:
			if i != -1 || di >= 0 || ei >= 0 || dOther || eOther {
				t.Fatalf("%s %s: no route, but the readings select %d and %d", method, target, di, ei)
			}
		case OtherMethod:
			if i != -1 || di >= 0 || ei >= 0 || !(dOther || eOther) || Allow(routes, method, decoded, escaped) == "" {
				t.Fatalf("%s %s: 405, but the readings select %d and %d", method, target, di, ei)
			}
		case Ambiguous:
			if i != -1 || di == ei {
				t.Fatalf("%s %s: ambiguous, but both readings select %d", method, target, di)
			}
		default:
			t.Fatalf("%s %s: outcome %d", method, target, out)
		}
		// The clean-path shortcut: the same answer with the shortcut
		// bypassed (RawPath set to the same escaped path).
		if u.RawPath == "" && IsClean(u.Path) {
			v := *u
			v.RawPath = u.EscapedPath()
			if j, o := Select(routes, method, &v); j != i || o != out {
				t.Fatalf("%s %s: clean path gives %d/%d, both readings %d/%d", method, target, i, out, j, o)
			}
		}
		// The gateway hands on Clean(path): cleaning again changes nothing.
		c := Clean(u.Path)
		if Clean(c) != c || !IsClean(c) {
			t.Fatalf("Clean(%q) = %q is not clean", u.Path, c)
		}
	})
}
