// Package paywall renders the HTML page that x402 servers send to browsers
// with a 402 Payment Required answer.
//
// The page states what is for sale (the resource description and URL) and
// its price in whole tokens ("0.01 USDC on eip155:84532"), then lets the
// visitor pay with a browser wallet: "Connect wallet" asks the injected
// EIP-1193 provider (window.ethereum) for an account and, if needed, to
// switch chains; "Pay" asks it to sign an EIP-3009 TransferWithAuthorization
// (eth_signTypedData_v4) and requests the page's own URL again with the
// PAYMENT-SIGNATURE header. The paid answer replaces the page (HTML) or is
// shown in it (text, JSON, images, or a download link for anything else),
// with the settlement's transaction hash when the server sends one.
//
// Only options the page can pay are offered: scheme "exact" on an "eip155:"
// network with an EIP-3009 asset (extra.name and extra.version set, no
// Permit2 transfer method). The first such option is used.
//
// # Use
//
// With the go402 middleware:
//
//	mw, err := x402http.New(x402http.Config{
//		// ...
//		Paywall: paywall.Handler(paywall.Options{AppName: "Acme"}),
//	})
//
// [Render] writes the page to any io.Writer for other servers.
//
// # Safety
//
// The page is self-contained (no CDN, fonts or third-party scripts) and
// small (about 14 KiB). Every text shown is rendered and escaped by
// html/template. The payment requirements reach the page script as JSON in a
// <script type="application/json"> element, encoded by encoding/json with
// <, >, &, U+2028 and U+2029 escaped; the script reads them with JSON.parse
// and puts text into the page with textContent only. The page script only
// requests the page's own URL.
//
// A Content-Security-Policy meta tag (see [ContentSecurityPolicy]) allows the
// page's inline script by its SHA-256 hash and no other inline script or
// eval, and network connections to the page's own origin only. The policy
// stays in force when paid HTML replaces the page: scripts the paid page
// loads from its own origin run, its inline scripts do not; its inline
// styles and its images from https: origins are allowed.
package paywall

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // page and script
	"encoding/base64"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go402/go402/x402"
)

//go:embed paywall.html
var pageSource string

//go:embed paywall.js
var scriptSource string

// DefaultDecimals is the number of decimals assumed for an asset whose
// requirements carry no extra.decimals: 6, as for USDC.
const DefaultDecimals = 6

// Data is what one page shows.
type Data struct {
	// PaymentRequired is the 402 answer to present; required.
	PaymentRequired *x402.PaymentRequired
	// AppName, if set, is shown above the title and in the window title.
	AppName string
}

// Options configures [Handler].
type Options struct {
	// AppName, if set, is shown above the title and in the window title.
	AppName string
}

// Handler returns a function for x402http.Config.Paywall: it writes the
// status, 402, and the page for pr, so it must be called before anything
// is written. The caller sets the PAYMENT-REQUIRED header; Handler sets
// Content-Type, Cache-Control (no-store), X-Content-Type-Options and a
// Content-Security-Policy header equal to the page's meta policy plus
// frame-ancestors 'self' (a page cannot be framed by other sites to trick
// clicks on Pay). If the page cannot be rendered it answers 402 with a
// plain-text body.
func Handler(opts Options) func(w http.ResponseWriter, r *http.Request, pr *x402.PaymentRequired) {
	t := pageTemplate() // parsed once per Handler; safe for concurrent use
	return func(w http.ResponseWriter, _ *http.Request, pr *x402.PaymentRequired) {
		var buf bytes.Buffer
		err := render(&buf, t, Data{PaymentRequired: pr, AppName: opts.AppName})
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if err != nil {
			h.Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusPaymentRequired)
			_, _ = io.WriteString(w, "Payment required.\n")
			return
		}
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", ContentSecurityPolicy()+"; frame-ancestors 'self'")
		w.WriteHeader(http.StatusPaymentRequired)
		_, _ = w.Write(buf.Bytes())
	}
}

// ContentSecurityPolicy returns the policy of the page's CSP meta tag, for
// servers that send it as a header too.
func ContentSecurityPolicy() string {
	sum := sha256.Sum256([]byte(scriptSource))
	return "default-src 'none'" +
		"; script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'" +
		"; connect-src 'self'" +
		"; style-src 'self' 'unsafe-inline' https:" +
		"; img-src 'self' https: data: blob:" +
		"; media-src 'self' https: blob:" +
		"; font-src 'self' https: data:" +
		"; base-uri 'self'; form-action 'self'; object-src 'none'"
}

// pageData is the template's input; every string is escaped by
// html/template in its context.
type pageData struct {
	CSP, AppName, Description, URL, Error string
	// Payable is false when no option can be paid from the page.
	Payable                      bool
	Price, Token, Network, PayTo string
	// Config is marshaled into the JSON data element.
	Config pageConfig
	// Script is the page script, a constant.
	Script template.JS
}

// pageConfig is the JSON the page script reads.
type pageConfig struct {
	PaymentRequired *x402.PaymentRequired `json:"paymentRequired"`
	// Option is the index in accepts of the option to pay, -1 for none.
	Option int `json:"option"`
}

// pageTemplate parses the page template, a constant of this package that
// the tests execute.
func pageTemplate() *template.Template {
	return template.Must(template.New("paywall").Parse(pageSource))
}

// Render writes the page for d.PaymentRequired to w. It fails if
// d.PaymentRequired is nil or has no accepts; it writes nothing on error.
func Render(w io.Writer, d Data) error {
	return render(w, pageTemplate(), d)
}

func render(w io.Writer, t *template.Template, d Data) error {
	pr := d.PaymentRequired
	if pr == nil {
		return errors.New("x402http/paywall: no PaymentRequired")
	}
	if len(pr.Accepts) == 0 {
		return errors.New("x402http/paywall: PaymentRequired has no accepts")
	}
	opt := payableOption(pr)
	p := pageData{
		CSP:         ContentSecurityPolicy(),
		AppName:     d.AppName,
		Description: pr.Resource.Description,
		URL:         pr.Resource.URL,
		Payable:     opt >= 0,
		Config:      pageConfig{PaymentRequired: pr, Option: opt},
		Script:      template.JS(scriptSource), // a constant of this package, not data
	}
	if e := pr.Error; e != "" && !strings.EqualFold(e, "payment required") {
		p.Error = e
	}
	show := pr.Accepts[0]
	if opt >= 0 {
		show = pr.Accepts[opt]
	}
	p.Price, p.Token = price(show)
	p.Network = string(show.Network)
	p.PayTo = show.PayTo
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// payableOption returns the index in pr.Accepts of the first option the page
// can pay, or -1: scheme "exact" on an eip155 network, with extra.name and
// extra.version (the token's EIP-712 domain) and an EIP-3009 transfer.
func payableOption(pr *x402.PaymentRequired) int {
	for i, a := range pr.Accepts {
		if a.Scheme != "exact" || a.Network.Namespace() != "eip155" {
			continue
		}
		if _, err := a.Network.ChainID(); err != nil {
			continue
		}
		name, _ := a.Extra.StringField("name")
		version, _ := a.Extra.StringField("version")
		method, _ := a.Extra.StringField("assetTransferMethod")
		if name != "" && version != "" && (method == "" || method == "eip3009") {
			return i
		}
	}
	return -1
}

// price returns the amount of r in whole tokens and the token's label:
// extra.symbol, else extra.name, else the asset address. The amount has
// extra.decimals decimals (a number or a decimal string) when given, else
// DefaultDecimals.
func price(r x402.PaymentRequirements) (amount, token string) {
	decimals := uint8(DefaultDecimals)
	if raw, ok := r.Extra.Field("decimals"); ok {
		s := strings.Trim(string(raw), `"`)
		if d, err := strconv.ParseUint(s, 10, 8); err == nil && d <= 77 {
			decimals = uint8(d)
		}
	}
	token, _ = r.Extra.StringField("symbol")
	if token == "" {
		token, _ = r.Extra.StringField("name")
	}
	if token == "" {
		token = r.Asset
	}
	return r.Amount.Format(decimals), token
}
