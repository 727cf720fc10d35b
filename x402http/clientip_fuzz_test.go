package x402http

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func FuzzForwarded(f *testing.F) {
	for _, s := range []string{
		`for=192.0.2.60;proto=http;by=203.0.113.43`,
		`for="[2001:db8:cafe::17]:4711", for=unknown`,
		`For="\"quoted\""`, `for=_hidden;for=x`, `;,;`, `for=`, `for="unterminated`,
	} {
		f.Add(s)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, v string) {
		hops, ok := parseForwardedFor(v)
		if ok && len(hops) != strings.Count(v, ",")+1 && !strings.Contains(v, `"`) {
			t.Fatalf("%q: %d elements for %d commas", v, len(hops), strings.Count(v, ","))
		}
		for _, peer := range []string{"127.0.0.1:1", "192.0.2.1:1"} {
			r := &http.Request{RemoteAddr: peer, Header: http.Header{"Forwarded": {v}, "X-Forwarded-For": {v}}}
			key := clientKey(r, trusted)
			if peer == "192.0.2.1:1" && key != "192.0.2.1" {
				t.Fatalf("an untrusted peer's header changed its key to %q", key)
			}
			if key == "" {
				t.Fatal("empty key")
			}
		}
	})
}

func TestParseForwardedFor(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // hops joined by |, or "!" for malformed
	}{
		{`for=192.0.2.60;proto=http;by=203.0.113.43`, "192.0.2.60"},
		{`for="[2001:db8:cafe::17]:4711", for=198.51.100.1`, "[2001:db8:cafe::17]:4711|198.51.100.1"},
		{`proto=https, FOR=1.2.3.4`, "|1.2.3.4"},
		{`for="a\"b"`, `a"b`},
		{`for=2001:db8::1`, "!"},
		{`for=1.2.3.4;for=5.6.7.8`, "!"},
		{`for="open`, "!"},
		{`for 1.2.3.4`, "!"},
	} {
		hops, ok := parseForwardedFor(c.in)
		got := strings.Join(hops, "|")
		if !ok {
			got = "!"
		}
		if got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}
