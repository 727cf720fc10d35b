package x402http

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

// tricky strings for JSON encoding.
var tricky = []string{
	"", "plain", `quote " and \ backslash`, "<b>&amp;</b>", "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "ünïcødé 日本 🪙", "\u2028\u2029", "bad utf8 \xff\xfe end", "\xc3", "/weather?city=Paris&x=<1>",
}

func encodingJSON(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAppendJSONStringIsEncodingJSON(t *testing.T) {
	for _, s := range tricky {
		if got, want := string(appendJSONString(nil, s)), encodingJSON(s); got != want {
			t.Errorf("%q: %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendJSONString(nil, s)), encodingJSON(s); got != want {
			t.Fatalf("%q: %s, want %s", s, got, want)
		}
	})
}

// The prebuilt 402 answer is byte for byte what x402's codecs give for the
// whole messages.
func TestStaticAnswerIsTheEncodedMessages(t *testing.T) {
	extra, _ := x402.NewObject(map[string]any{"name": "USD <Coin>", "version": "2", "nested": map[string]any{"a": []int{1, 2}}})
	reqs := []x402.PaymentRequirements{
		{Scheme: "exact", Network: "eip155:84532", Amount: x402.NewAmount(1000), Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", MaxTimeoutSeconds: 300, Extra: extra},
		{Scheme: "exact", Network: "eip155:999999", Amount: x402.NewAmount(5), Asset: "0x01", PayTo: "0x02", MaxTimeoutSeconds: 60}, // no v1 name
		{Scheme: "exact", Network: "eip155:8453", Amount: x402.NewAmount(1), Asset: "0x03", PayTo: "0x04", MaxTimeoutSeconds: 1},
	}
	declared := x402.Object(`{"eip2612GasSponsoring":{"info":{"description":"d <&>","version":"1"},"schema":{"type":"object"}}}`)
	for i, desc := range tricky {
		for _, mime := range []string{"", "application/json"} {
			var ext x402.Object
			if i%2 == 1 {
				ext = declared
			}
			ans, err := newAnswer(reqs, desc, mime, ext)
			if err != nil {
				t.Fatal(err)
			}
			for _, msg := range tricky {
				for _, method := range []string{"GET", "head", "post"} {
					url := "http://api.example/weather?q=" + msg
					res := x402.ResourceInfo{URL: url, Description: desc, MimeType: mime}
					want, err := x402.EncodePaymentRequired(&x402.PaymentRequired{X402Version: 2, Error: msg, Resource: res, Accepts: reqs, Extensions: ext})
					if err != nil {
						t.Fatal(err)
					}
					if got, err := ans.header(msg, url); err != nil || got != want {
						t.Fatalf("header for %q %q: %v\n%s\nwant\n%s", desc, msg, err, got, want)
					}
					body := x402.PaymentRequiredV1{X402Version: 1, Error: msg, Accepts: []x402.PaymentRequirementsV1{}}
					for i := range reqs {
						if v1, err := requirementsV1(method, &reqs[i], &res); err == nil {
							body.Accepts = append(body.Accepts, v1)
						}
					}
					var buf bytes.Buffer
					enc := json.NewEncoder(&buf)
					enc.SetEscapeHTML(false)
					if err := enc.Encode(body); err != nil {
						t.Fatal(err)
					}
					if got := ans.body(msg, url, method); string(got) != buf.String() {
						t.Fatalf("body for %q %q %s:\n%s\nwant\n%s", desc, msg, method, got, buf.String())
					}
				}
			}
		}
	}
}

// The 402 header is bounded as x402.EncodePaymentRequired bounds it
// (x402.MaxPaymentRequiredSize, not the 16 KiB accepted when decoding):
// across the limit, header gives the codec's header or the codec's error,
// and newAnswer refuses only answers whose smallest header (no error text,
// a one-character URL) is over it.
func TestAnswerHeaderIsBoundLikeEncodePaymentRequired(t *testing.T) {
	reqs := []x402.PaymentRequirements{{Scheme: "exact", Network: "eip155:84532", Amount: x402.NewAmount(1000), Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", MaxTimeoutSeconds: 300}}
	encode := func(desc, msg, url string) (string, error) {
		return x402.EncodePaymentRequired(&x402.PaymentRequired{X402Version: 2, Error: msg, Resource: x402.ResourceInfo{URL: url, Description: desc}, Accepts: reqs})
	}
	// The description length at which the smallest header reaches the
	// limit.
	base, err := encode("", "", "/")
	if err != nil {
		t.Fatal(err)
	}
	edge := (x402.MaxPaymentRequiredSize-len(base))*3/4 - len(`,"description":""`)
	const msg, url = "Payment required", "http://api.example/reports/q3"
	var fitted, refusedAtNew, refusedPerRequest int
	for n := edge - 80; n <= edge+8; n++ {
		desc := strings.Repeat("d", n)
		ans, err := newAnswer(reqs, desc, "", nil)
		_, smallestErr := encode(desc, "", "/")
		if (err != nil) != (smallestErr != nil) {
			t.Fatalf("description of %d bytes: newAnswer error %v, but the smallest header encodes with error %v", n, err, smallestErr)
		}
		if err != nil {
			if !errors.Is(err, x402.ErrHeaderTooLarge) || x402.ReasonOf(err) != x402.ReasonInvalidPaymentRequirements || !strings.Contains(err.Error(), smallestErr.Error()) {
				t.Fatalf("description of %d bytes: newAnswer error %v, want one wrapping %v", n, err, smallestErr)
			}
			refusedAtNew++
			continue
		}
		want, wantErr := encode(desc, msg, url)
		got, err := ans.header(msg, url)
		switch {
		case wantErr == nil && (err != nil || got != want):
			t.Fatalf("description of %d bytes: header %q, %v; want %q", n, got, err, want)
		case wantErr != nil && (err == nil || err.Error() != wantErr.Error() || !errors.Is(err, x402.ErrHeaderTooLarge) || x402.ReasonOf(err) != x402.ReasonInvalidPaymentRequirements):
			t.Fatalf("description of %d bytes: header error %v, want %v", n, err, wantErr)
		case wantErr != nil:
			refusedPerRequest++
		default:
			if len(got) > x402.MaxPaymentRequiredSize {
				t.Fatalf("a %d-byte header", len(got))
			}
			fitted++
		}
	}
	if fitted == 0 || refusedPerRequest == 0 || refusedAtNew == 0 {
		t.Errorf("the sweep did not cross both limits: %d fitted, %d refused per request, %d at newAnswer", fitted, refusedPerRequest, refusedAtNew)
	}
}

func compiled(t testing.TB, patterns ...string) *Middleware {
	t.Helper()
	m := &Middleware{}
	for _, p := range patterns {
		c, err := compile(Route{Pattern: p})
		if err != nil {
			t.Fatal(err)
		}
		m.routes = append(m.routes, c)
	}
	return m
}

func TestMatchReadings(t *testing.T) {
	m := compiled(t, "GET /a/{x}", "GET /a/b/c", "/files/{name}", "POST /p/b/c", "GET /p/{x}", "GET /weather", "/dir/*")
	for _, tc := range []struct {
		method, target string
		want           string // pattern, or "405", "400", ""
	}{
		{"GET", "/a/x", "GET /a/{x}"},
		{"get", "/a/x", "GET /a/{x}"},
		{"HEAD", "/a/b/c", "GET /a/b/c"},
		{"head", "/A/B/C/", "GET /a/b/c"},
		{"POST", "/a/x", "405"},
		{"GET", "/a/b%2Fc", "400"},
		{"GET", "/a/b%5cc", "400"},
		{"GET", "/a/b\\c", "400"},
		{"GET", "/files/a%2Fb", "/files/{name}"},
		{"GET", "/files/a", "/files/{name}"},
		{"GET", "/p/b%2Fc", "400"},
		{"GET", "/x/../weather", "GET /weather"},
		{"GET", "/x/%2E%2E/weather", "GET /weather"},
		{"GET", "//weather", "GET /weather"},
		{"GET", "/./weather/.", "GET /weather"},
		{"GET", "/WEATHER", "GET /weather"},
		// A trailing dot is an empty suffix, which some servers drop.
		{"GET", "/weather.", "GET /weather"},
		{"GET", "/weather.json", "GET /weather"},
		{"GET", "/weather;jsessionid=1", "GET /weather"},
		{"GET", "/weather%20", "400"},
		{"GET", "/.weather", ""},
		{"GET", "/dir", "/dir/*"},
		{"GET", "/dir/a/b", "/dir/*"},
		{"GET", "/dir%2Fa", "/dir/*"},
		{"GET", "/other", ""},
		{"GET", "/", ""},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://h"+tc.target, nil)
		r.Method = tc.method
		c, out := m.match(r)
		got := ""
		switch out {
		case matchRoute:
			got = c.Pattern
		case matchOtherMethod:
			got = "405"
		case matchAmbiguous:
			got = "400"
		}
		if got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
}
