package paywall_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http/paywall"
)

func object(t *testing.T, v any) x402.Object {
	t.Helper()
	o, err := x402.NewObject(v)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// requirement is $0.01 of Base Sepolia USDC.
func requirement(t *testing.T) x402.PaymentRequirements {
	return x402.PaymentRequirements{
		Scheme:            "exact",
		Network:           "eip155:84532",
		Amount:            x402.NewAmount(10_000),
		Asset:             "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
		PayTo:             "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
		MaxTimeoutSeconds: 300,
		Extra:             object(t, map[string]string{"name": "USDC", "version": "2"}),
	}
}

func paymentRequired(t *testing.T, description string, accepts ...x402.PaymentRequirements) *x402.PaymentRequired {
	if len(accepts) == 0 {
		accepts = []x402.PaymentRequirements{requirement(t)}
	}
	return &x402.PaymentRequired{
		X402Version: x402.V2,
		Error:       "Payment required",
		Resource:    x402.ResourceInfo{URL: "https://api.example.com/premium?a=1&b=2", Description: description, MimeType: "text/html"},
		Accepts:     accepts,
	}
}

func render(t *testing.T, d paywall.Data) string {
	t.Helper()
	var buf bytes.Buffer
	if err := paywall.Render(&buf, d); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// scriptElements returns the contents of the page's <script> elements.
func scriptElements(t *testing.T, page string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<script([^>]*)>(.*?)</script>`).FindAllStringSubmatch(page, -1) {
		out[strings.TrimSpace(m[1])] = m[2]
	}
	return out
}

const dataAttrs = `type="application/json" id="x402-data"`

// embedded decodes the page's JSON data element.
func embedded(t *testing.T, page string) (pr *x402.PaymentRequired, option int) {
	t.Helper()
	raw, ok := scriptElements(t, page)[dataAttrs]
	if !ok {
		t.Fatalf("no JSON data element in\n%s", page)
	}
	var cfg struct {
		PaymentRequired *x402.PaymentRequired `json:"paymentRequired"`
		Option          int                   `json:"option"`
	}
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatalf("JSON data element: %v\n%s", err, raw)
	}
	return cfg.PaymentRequired, cfg.Option
}

func TestRenderShowsPriceAndResource(t *testing.T) {
	page := render(t, paywall.Data{PaymentRequired: paymentRequired(t, "Premium weather report"), AppName: "Acme Weather"})
	for _, want := range []string{
		"<strong>0.01 USDC</strong> <span>on eip155:84532</span>",
		"Premium weather report",
		"https://api.example.com/premium?a=1&amp;b=2",
		"0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
		"Acme Weather",
		`<button id="pay" type="button" disabled>Pay 0.01 USDC</button>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, `class="note"`) {
		t.Error(`the generic error "Payment required" is shown as a note`)
	}
}

func TestRenderPriceUnits(t *testing.T) {
	for _, tc := range []struct {
		amount uint64
		extra  map[string]any
		want   string
	}{
		{10_000, map[string]any{"name": "USDC", "version": "2"}, "0.01 USDC"},
		{1, map[string]any{"name": "USD Coin", "version": "2"}, "0.000001 USD Coin"},
		{25_000_000, map[string]any{"name": "USDC", "version": "2"}, "25 USDC"},
		{1_000_000_000_000_000, map[string]any{"name": "Dai", "version": "1", "decimals": 18}, "0.001 Dai"},
		{150, map[string]any{"name": "Token", "version": "1", "decimals": "2", "symbol": "TOK"}, "1.5 TOK"},
		{150, map[string]any{"name": "Bad", "version": "1", "decimals": "x"}, "0.00015 Bad"},
	} {
		req := requirement(t)
		req.Amount = x402.NewAmount(tc.amount)
		req.Extra = object(t, tc.extra)
		page := render(t, paywall.Data{PaymentRequired: paymentRequired(t, "d", req)})
		if !strings.Contains(page, "<strong>"+html.EscapeString(tc.want)+"</strong>") {
			t.Errorf("amount %d, extra %v: page does not show %q", tc.amount, tc.extra, tc.want)
		}
	}
}

const hostile = "</script><script>alert(1)</script><!-- \"quoted\" 'single' <img src=x onerror=alert(2)> \u2028line\u2029para & ]]>"

func TestRenderEscapesHostileText(t *testing.T) {
	req := requirement(t)
	req.Extra = object(t, map[string]string{"name": hostile, "version": "2"})
	req.PayTo = hostile
	pr := paymentRequired(t, hostile, req)
	pr.Resource.URL = "javascript:alert(3)//" + hostile
	pr.Error = hostile
	page := render(t, paywall.Data{PaymentRequired: pr, AppName: hostile})

	if n := strings.Count(page, "<script"); n != 2 {
		t.Errorf("page has %d <script tags, want 2 (data and page script)", n)
	}
	if n := strings.Count(page, "</script"); n != 2 {
		t.Errorf("page has %d </script tags, want 2", n)
	}
	for _, bad := range []string{"<script>alert", "<img", "<!--", "onerror=alert(2)>"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q unescaped", bad)
		}
	}
	scripts := scriptElements(t, page)
	for attrs, body := range scripts {
		if strings.ContainsAny(body, "\u2028\u2029") {
			t.Errorf("script %q contains a raw U+2028/U+2029", attrs)
		}
		if attrs == dataAttrs && strings.ContainsAny(body, "<>&") {
			t.Errorf("JSON data contains a raw <, > or &: %s", body)
		}
	}
	// The text is shown, escaped, where text belongs.
	if !strings.Contains(page, html.EscapeString(hostile)) {
		t.Error("the description is not shown as escaped text")
	}
	got, _ := embedded(t, page)
	if !reflect.DeepEqual(got, pr) {
		t.Errorf("embedded JSON decodes to\n%+v\nwant\n%+v", got, pr)
	}
}

func TestEmbeddedJSONRoundTrip(t *testing.T) {
	second := requirement(t)
	second.Network = "eip155:8453"
	second.Amount = x402.NewAmount(123_456_789)
	second.Extra = object(t, map[string]any{"name": "USD Coin", "version": "2", "nested": map[string]any{"list": []any{1, "two", nil, true}}, "unicode": "é ✓ \u2028"})
	pr := paymentRequired(t, "Round trip ✓", requirement(t), second)
	pr.Extensions = object(t, map[string]any{"bazaar": map[string]any{"discoverable": true}})
	page := render(t, paywall.Data{PaymentRequired: pr})
	got, option := embedded(t, page)
	if !reflect.DeepEqual(got, pr) {
		t.Errorf("embedded JSON decodes to\n%+v\nwant\n%+v", got, pr)
	}
	if option != 0 {
		t.Errorf("option %d, want 0", option)
	}
	// It also survives the header codec the middleware uses.
	enc, err := x402.EncodePaymentRequired(got)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x402.DecodePaymentRequired(enc); err != nil {
		t.Fatal(err)
	}
}

func TestRenderSize(t *testing.T) {
	page := render(t, paywall.Data{PaymentRequired: paymentRequired(t, "Premium weather report"), AppName: "Acme Weather"})
	if len(page) > 24<<10 {
		t.Errorf("page is %d bytes, want at most 24 KiB", len(page))
	}
	var assets int
	for _, f := range []string{"paywall.html", "paywall.js"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		assets += len(b)
	}
	if assets > 24<<10 {
		t.Errorf("paywall.html and paywall.js are %d bytes, want at most 24 KiB", assets)
	}
	t.Logf("page: %d bytes; assets: %d bytes", len(page), assets)
}

func TestContentSecurityPolicy(t *testing.T) {
	page := render(t, paywall.Data{PaymentRequired: paymentRequired(t, "d")})
	m := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy" content="([^"]*)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSP meta tag")
	}
	csp := html.UnescapeString(m[1])
	if csp != paywall.ContentSecurityPolicy() {
		t.Errorf("meta policy %q differs from ContentSecurityPolicy() %q", csp, paywall.ContentSecurityPolicy())
	}
	script, ok := scriptElements(t, page)[""]
	if !ok {
		t.Fatal("no inline page script")
	}
	sum := sha256.Sum256([]byte(script))
	directives := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	if want := "'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; directives["script-src"] != want {
		t.Errorf("script-src %q, want %q (the hash of the inline script)", directives["script-src"], want)
	}
	if directives["default-src"] != "'none'" || directives["connect-src"] != "'self'" || directives["object-src"] != "'none'" {
		t.Errorf("policy not restrictive enough: %q", csp)
	}
}

// TestScriptUsesNoHTMLSinks keeps untrusted text out of HTML parsing and
// code evaluation in the page script, and its requests on the page's URL.
func TestScriptUsesNoHTMLSinks(t *testing.T) {
	b, err := os.ReadFile("paywall.js")
	if err != nil {
		t.Fatal(err)
	}
	js := string(b)
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "Function(", "setTimeout(\"", "javascript:"} {
		if strings.Contains(js, sink) {
			t.Errorf("paywall.js uses %s", sink)
		}
	}
	// document.write is for the paid HTML the server returned, nothing else.
	if n := strings.Count(js, "document.write("); n != 1 || !strings.Contains(js, "document.write(html)") {
		t.Errorf("paywall.js writes documents %d times; want once, the paid HTML", n)
	}
	if n := strings.Count(js, "fetch("); n != 1 || !strings.Contains(js, "fetch(location.href,") {
		t.Errorf("paywall.js fetches %d times; want once, the page's own URL", n)
	}
}

func TestPayableOption(t *testing.T) {
	solana := requirement(t)
	solana.Network = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
	permit2 := requirement(t)
	permit2.Extra = object(t, map[string]string{"name": "USDC", "version": "2", "assetTransferMethod": "permit2"})
	upto := requirement(t)
	upto.Scheme = "upto"
	noDomain := requirement(t)
	noDomain.Extra = nil
	good := requirement(t)
	good.Amount = x402.NewAmount(20_000)

	page := render(t, paywall.Data{PaymentRequired: paymentRequired(t, "d", solana, permit2, upto, noDomain, good)})
	if _, option := embedded(t, page); option != 4 {
		t.Errorf("option %d, want 4", option)
	}
	if !strings.Contains(page, "<strong>0.02 USDC</strong>") || !strings.Contains(page, `id="pay"`) {
		t.Error("the payable option is not offered")
	}

	page = render(t, paywall.Data{PaymentRequired: paymentRequired(t, "d", solana, permit2)})
	if _, option := embedded(t, page); option != -1 {
		t.Errorf("option %d, want -1", option)
	}
	if strings.Contains(page, `id="pay"`) || strings.Contains(page, `id="connect"`) || !strings.Contains(page, "cannot be paid from a browser wallet") {
		t.Error("an unpayable requirement is offered for payment")
	}
	if !strings.Contains(page, "on solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp") {
		t.Error("the price of the first option is not shown")
	}
}

func TestRenderShowsServerError(t *testing.T) {
	pr := paymentRequired(t, "d")
	pr.Error = "insufficient_funds"
	page := render(t, paywall.Data{PaymentRequired: pr})
	if !strings.Contains(page, `<p class="note">insufficient_funds</p>`) {
		t.Error("the error is not shown")
	}
}

func TestRenderErrors(t *testing.T) {
	for name, pr := range map[string]*x402.PaymentRequired{
		"nil":        nil,
		"no accepts": {X402Version: 2, Resource: x402.ResourceInfo{URL: "https://x"}},
	} {
		var buf bytes.Buffer
		if err := paywall.Render(&buf, paywall.Data{PaymentRequired: pr}); err == nil {
			t.Errorf("%s: no error", name)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes on error", name, buf.Len())
		}
	}
}

func TestHandler(t *testing.T) {
	h := paywall.Handler(paywall.Options{AppName: "Acme"})
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/premium", nil), paymentRequired(t, "Premium"))
	res := rec.Result()
	if res.StatusCode != http.StatusPaymentRequired {
		t.Errorf("status %d, want 402", res.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": paywall.ContentSecurityPolicy() + "; frame-ancestors 'self'",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if body := rec.Body.String(); !strings.Contains(body, "0.01 USDC") || !strings.Contains(body, "Acme") {
		t.Error("body is not the paywall")
	}

	// One handler serves concurrent requests.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h(rec, httptest.NewRequest(http.MethodGet, "/premium", nil), paymentRequired(t, "Premium"))
			if !strings.Contains(rec.Body.String(), "0.01 USDC") {
				t.Error("concurrent render failed")
			}
		})
	}
	wg.Wait()

	rec = httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, "/premium", nil), &x402.PaymentRequired{X402Version: 2})
	if rec.Code != http.StatusPaymentRequired || strings.Contains(rec.Body.String(), "<html") {
		t.Errorf("unrenderable requirements: status %d, body %q; want 402 in plain text", rec.Code, rec.Body.String())
	}
}
