package routepattern

import (
	"net/url"
	"testing"
)

// Select prices the spellings of a priced path that lenient upstreams
// (Tomcat, Spring...) read as it: ";" parameters and "." suffixes are the
// priced route's, trailing whitespace is refused.
func TestSelectLenient(t *testing.T) {
	routes := table(t, "GET /api/premium", "GET /api/reports/{id}/full", "POST /api/upload", "GET /api/cheap/dear", "GET /api/cheap/*", "free /api/*", "GET /v1.0")
	for _, tc := range []struct {
		method, target string
		want           int
		out            Outcome
	}{
		{"GET", "/api/premium", 0, Matched},
		{"GET", "/api/premium;jsessionid=1", 0, Matched},
		{"GET", "/api;v=2/premium", 0, Matched},
		{"GET", "/api/premium.json", 0, Matched},
		{"GET", "/api/Premium.XML", 0, Matched},
		{"GET", "/api/premium.tar.gz", 0, Matched},
		{"GET", "/api/premium.json;a=b", 0, Matched},
		{"GET", "/api/premium;a=b.json", 0, Matched},
		{"GET", "/api/premium%3Bx", 0, Matched},
		{"GET", "/api/;x/premium", 0, Matched},
		{"GET", "/api/reports/1;x/full", 1, Matched},
		{"GET", "/api/reports/1/full.json", 1, Matched},
		{"GET", "/api/premium%20", -1, Ambiguous},
		{"GET", "/api/premium%09", -1, Ambiguous},
		{"GET", "/api/premium%0D%0A", -1, Ambiguous},
		{"GET", "/api/premium%00", -1, Ambiguous},
		{"GET", "/api/premium%C2%A0", -1, Ambiguous},
		// Whitespace inside a parameter goes with it.
		{"GET", "/api/premium;x%20", 0, Matched},
		{"GET", "/api%20/premium", -1, Ambiguous},
		// A cheaper priced route does not sell the dearer one's resource.
		{"GET", "/api/cheap/x.json", 4, Matched},
		{"GET", "/api/cheap/dear.json", 3, Matched},
		// A spelling of a path priced for other methods only: 405.
		{"GET", "/api/upload.json", -1, OtherMethod},
		{"GET", "/api/upload;x", -1, OtherMethod},
		{"POST", "/api/upload.json", 2, Matched},
		// Other paths keep their routes.
		{"GET", "/api/premiums", 5, Matched},
		{"GET", "/api/premium-x.json", 5, Matched},
		{"GET", "/api/.premium", 5, Matched},
		{"GET", "/api/a%20b", 5, Matched},
		{"GET", "/v1.0", 6, Matched},
		{"GET", "/v1.0.json", 6, Matched},
		{"GET", "/v1.json", -1, None},
		{"GET", "/other.json", -1, None},
	} {
		u, err := url.ParseRequestURI(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		i, out := Select(routes, tc.method, u)
		if i != tc.want || out != tc.out {
			t.Errorf("%s %s: %d, %v; want %d, %v", tc.method, tc.target, i, out, tc.want, tc.out)
		}
	}
	u, _ := url.ParseRequestURI("/api/upload.json")
	if got := Allow(routes, "GET", Readings(u)...); got != "POST" {
		t.Errorf("Allow for GET /api/upload.json: %q", got)
	}
}

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"/api/*", "GET /api/premium", true},
		{"GET /api/*", "HEAD /api/premium", true},
		{"POST /api/*", "GET /api/premium", false},
		{"/*", "/a/b/c", true},
		{"/api/{id}", "/api/premium", true},
		{"/api/{id}", "/api/premium/x", false},
		{"/api/{id}", "/api/premium/*", true},
		{"/api/premium/*", "/api/premium", true},
		{"/api/free/*", "/api/premium", false},
		{"/api/free/*", "/api/premium/*", false},
		{"/a", "/b", false},
	} {
		a, _ := Parse(tc.a)
		b, _ := Parse(tc.b)
		if a.Overlaps(b) != tc.want || b.Overlaps(a) != tc.want {
			t.Errorf("%q and %q overlap: %v, want %v", tc.a, tc.b, a.Overlaps(b), tc.want)
		}
	}
}
