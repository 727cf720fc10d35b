package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/routepattern"
	"github.com/go402/go402/internal/yamlconf"
	"github.com/go402/go402/x402"
)

// Validate checks every value without any I/O and returns all the problems
// found, joined, each a *FieldError naming the key and its line. Whether
// prices resolve on their networks is checked by [New], which knows every
// registered network.
func (c *Config) Validate() error {
	v := &validator{Check: yamlconf.NewCheck(&c.origins), c: c}
	v.listen()
	if !strings.HasPrefix(c.HealthPath, "/") || c.HealthPath == "/" || strings.ContainsAny(c.HealthPath, "*{} ?#") {
		v.fail("healthPath", "must be a plain absolute path such as /healthz")
	}
	v.facilitator()
	v.facilitators()
	v.networks()
	if c.PayTo != "" {
		v.address("payTo", c.PayTo)
	}
	if c.Network != "" {
		v.network("network", c.Network)
	}
	v.queue()
	if c.Queue.Workers < 0 || c.Queue.Workers > 1024 {
		v.fail("queue.workers", "must be between 0 (the default, 16) and 1024")
	}
	if c.Queue.BackPressure < 0 || c.Queue.BackPressure > 1 {
		v.fail("queue.backPressure", "must be between 0 (the default, 0.5) and 1 (off)")
	}
	if c.MaxBufferBytes < 0 {
		v.fail("maxBufferBytes", "must not be negative")
	}
	v.cors()
	v.timeouts()
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		v.fail("logLevel", "must be one of debug, info, warn, error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		v.fail("logFormat", "must be text or json")
	}
	v.routes()
	v.rateLimits() // ratelimit.go
	c.Channels.validate(v, c)
	return v.Err()
}

type validator struct {
	*yamlconf.Check
	c *Config
}

func (v *validator) fail(key, format string, args ...any) { v.Failf(key, format, args...) }

func (v *validator) listen() {
	v.hostPort("listen", v.c.Listen)
	if v.c.MetricsListen != "" {
		v.hostPort("metricsListen", v.c.MetricsListen)
	}
}

// hostPort checks the listen address addr of key.
func (v *validator) hostPort(key, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.fail(key, "must be host:port, such as %s", DefaultListen)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.fail(key, "the port must be a number from 0 to 65535")
	}
	if strings.ContainsAny(host, " /") {
		v.fail(key, "the host must be an IP address or a host name")
	}
}

func (v *validator) facilitator() {
	f := v.c.Facilitator
	priced := slices.ContainsFunc(v.c.Routes, func(r Route) bool { return !r.Free() })
	switch {
	case f.URL != "" && f.Embedded.Devnet:
		v.fail("facilitator", "set only one of url and embedded")
	case f.URL == "" && !f.Embedded.Devnet && priced && len(v.c.Facilitators) == 0:
		v.fail("facilitator", "required for priced routes: set url (a remote facilitator) or embedded: {devnet: true}, or list remote facilitators under facilitators")
	case f.URL != "":
		u, err := url.Parse(f.URL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			v.fail("facilitator.url", "must be an http:// or https:// URL")
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			v.fail("facilitator.url", "must not contain credentials, a query or a fragment (use apiKeyEnv for a token)")
		}
	}
	if f.APIKeyEnv != "" {
		switch {
		case !yamlconf.IsEnvName(f.APIKeyEnv):
			// Never quote the value: a token pasted here must not leak.
			v.fail("facilitator.apiKeyEnv", "must be the name of an environment variable (letters, digits and _), not the token itself")
		case f.URL == "":
			v.fail("facilitator.apiKeyEnv", "is only used with url")
		}
	}
	if f.ReservesFunds && f.URL == "" {
		v.fail("facilitator.reservesFunds", "is only used with url")
	}
}

func (v *validator) cors() {
	c := v.c.CORS
	for i, o := range c.AllowOrigins {
		key := fmt.Sprintf("cors.allowOrigins[%d]", i)
		if o == "*" {
			if c.AllowCredentials {
				v.fail("cors.allowCredentials", `cannot go with allowOrigins "*": every web page could read paid answers with the visitor's cookies; list the origins`)
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			v.fail(key, "must be an origin such as https://app.example (scheme and host, no path), or *")
		}
	}
	for i, h := range c.AllowHeaders {
		if !httpguts.ValidHeaderFieldName(h) {
			v.fail(fmt.Sprintf("cors.allowHeaders[%d]", i), "must be a header name such as X-Api-Key")
		}
	}
	if c.MaxAgeSeconds < 0 {
		v.fail("cors.maxAgeSeconds", "must not be negative")
	}
}

func (v *validator) networks() {
	seen := map[x402.Network]int{}
	for i, n := range v.c.Networks {
		p := fmt.Sprintf("networks[%d]", i)
		if n.Network == "" {
			v.fail(p+".network", "required (eip155:<chain id>)")
		} else if v.network(p+".network", n.Network) {
			if j, dup := seen[n.Network]; dup {
				v.fail(p+".network", "%s is already listed in networks[%d]", n.Network, j)
			}
			seen[n.Network] = i
		}
		if len(n.Assets) == 0 {
			v.fail(p+".assets", "at least one asset is required")
		}
		for _, pr := range evm.CheckAssets(n.Assets) {
			v.fail(fmt.Sprintf("%s.assets[%d].%s", p, pr.Index, pr.Field), "%s", pr.Message)
		}
	}
}

// network checks an EVM network id and reports whether it is valid.
func (v *validator) network(key string, n x402.Network) bool {
	if _, err := x402.ParseNetwork(string(n)); err != nil {
		v.fail(key, "must be a CAIP-2 network such as eip155:8453")
		return false
	}
	if id, err := n.ChainID(); err != nil || id == 0 {
		v.fail(key, "must be an EVM network, eip155:<chain id>")
		return false
	}
	return true
}

func (v *validator) address(key, s string) {
	if msg := evm.AddressProblem(s); msg != "" {
		v.fail(key, "%s", msg)
	}
}

func (v *validator) routes() {
	c := v.c
	if len(c.Routes) == 0 {
		v.fail("routes", "at least one route is required")
	}
	seen := map[string]int{}
	for i := range c.Routes {
		r := &c.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		pat, err := routepattern.Parse(r.Path)
		if err != nil {
			v.fail(p+".path", "%v", err)
		} else {
			if j, dup := seen[pat.Key()]; dup {
				v.fail(p+".path", "the same pattern as routes[%d].path: this route would never match", j)
			}
			seen[pat.Key()] = i
		}
		switch {
		case r.Upstream != "" && r.Dir != "":
			v.fail(p, "set only one of upstream and dir")
		case r.Upstream == "" && r.Dir == "":
			v.fail(p, "set upstream (a URL to proxy to) or dir (a directory to serve)")
		case r.Upstream != "":
			if msg := checkUpstream(r.Upstream); msg != "" {
				v.fail(p+".upstream", "%s", msg)
			}
			if r.Listing {
				v.fail(p+".listing", "only applies to dir routes")
			}
		default:
			if r.StripPrefix {
				v.fail(p+".stripPrefix", "only applies to upstream routes (dir routes always strip the route's prefix)")
			}
			if pat != nil {
				switch {
				case !pat.Rest || pat.Params > 0:
					v.fail(p+".path", "a dir route's path must be literal segments followed by a final * (such as /files/*)")
				case pat.Method != "" && pat.Method != "GET":
					v.fail(p+".path", "dir routes serve GET and HEAD only")
				}
			}
		}
		v.routePayment(r, p)
		v.discovery(r, p) // see discovery.go
	}
	v.shadows()
}

// shadows refuses a free route that matches requests a priced route
// matches too, unless it says shadowsPriced: placed before the priced
// route it serves them free; placed after, it serves the spellings of the
// priced paths that an upstream may read as them (see
// routepattern.Loosen), were the gateway not to price those too.
func (v *validator) shadows() {
	routes := v.c.Routes
	pats := make([]*routepattern.Pattern, len(routes))
	for i := range routes {
		pats[i], _ = routepattern.Parse(routes[i].Path)
	}
	for i, f := range routes {
		if !f.Free() || f.ShadowsPriced || pats[i] == nil {
			continue
		}
		for j, p := range routes {
			if p.Free() || pats[j] == nil || !pats[i].Overlaps(pats[j]) {
				continue
			}
			how := "comes after it, and would serve the spellings of its paths an upstream may read as them (;params, .json)"
			if i < j {
				how = "comes before it, and serves those requests free"
			}
			v.fail(fmt.Sprintf("routes[%d].path", i),
				"the free route %q matches requests of the priced routes[%d] %q and %s: set shadowsPriced: true on routes[%d] if that is intended",
				f.Path, j, p.Path, how, i)
			break
		}
	}
}

func (v *validator) routePayment(r *Route, p string) {
	c := v.c
	if r.Free() {
		for _, k := range []struct {
			key string
			set bool
		}{
			{"payTo", r.PayTo != ""},
			{"network", r.Network != ""},
			{"networks", len(r.Networks) > 0},
			{"policy", r.Policy != ""},
			{"maxTimeoutSeconds", r.MaxTimeoutSeconds != 0},
			{"charge", r.Charge != nil},
			{"paymentIdentifier", r.PaymentIdentifier != ""},
		} {
			if k.set {
				v.fail(p+"."+k.key, "only applies to priced routes (this route has no price, so it is free)")
			}
		}
		return
	}
	if r.ShadowsPriced {
		v.fail(p+".shadowsPriced", "only applies to free routes")
	}
	if price, err := x402.ParsePrice(r.Price); err != nil {
		v.fail(p+".price", "must be a price such as \"$0.001\" or \"0.25 USDC\"")
	} else if price.IsZero() {
		v.fail(p+".price", "must be more than zero (leave price out for a free route)")
	}
	if r.PayTo != "" {
		v.address(p+".payTo", r.PayTo)
	} else if c.PayTo == "" {
		v.fail(p+".payTo", "required: set payTo on the route or at the top level")
	}
	switch {
	case r.Network != "" && len(r.Networks) > 0:
		v.fail(p, "set only one of network and networks")
	case r.Network != "":
		v.network(p+".network", r.Network)
	case len(r.Networks) > 0:
		seen := map[x402.Network]bool{}
		for j, n := range r.Networks {
			k := fmt.Sprintf("%s.networks[%d]", p, j)
			if v.network(k, n) && seen[n] {
				v.fail(k, "%s is listed twice", n)
			}
			seen[n] = true
		}
	case c.Network == "":
		v.fail(p+".network", "required: set network on the route or at the top level")
	}
	switch r.Scheme {
	case "", SchemeExact:
	case SchemeBatchSettlement:
		if r.Policy == PolicyServeThenSettle {
			v.fail(p+".policy", "a batch-settlement route verifies vouchers locally before serving: serve-then-settle does not apply")
		}
	case SchemeUpto:
	default:
		v.fail(p+".scheme", "must be %s, %s or %s", SchemeExact, SchemeBatchSettlement, SchemeUpto)
	}
	v.metering(r, p)
	switch r.Policy {
	case "", PolicySettleBeforeServe:
	case PolicyServeThenSettle:
		if !c.Queue.set() {
			v.fail(p+".policy", "serve-then-settle needs a settlement queue: set queue: {sqlite: PATH} or queue: {postgres: URL}")
		}
	default:
		v.fail(p+".policy", "must be %s or %s", PolicySettleBeforeServe, PolicyServeThenSettle)
	}
	if r.MaxTimeoutSeconds < 0 {
		v.fail(p+".maxTimeoutSeconds", "must not be negative")
	}
	switch r.PaymentIdentifier {
	case "", PaymentIDOptional, PaymentIDRequired:
	default:
		v.fail(p+".paymentIdentifier", "must be %s or %s", PaymentIDOptional, PaymentIDRequired)
	}
	v.charge(r, p)
}

// metering checks routes[i].metering: only on upto routes of an
// upstream, a header name the client's answer can lose, a positive unit
// price.
func (v *validator) metering(r *Route, p string) {
	m := r.Metering
	if !r.upto() {
		if m != (Metering{}) {
			v.fail(p+".metering", "applies to scheme: %s routes only", SchemeUpto)
		}
		return
	}
	if r.Upstream == "" {
		v.fail(p+".scheme", "an %s route meters its upstream's answers: it needs an upstream", SchemeUpto)
	}
	switch h := http.CanonicalHeaderKey(m.Header); {
	case !httpguts.ValidHeaderFieldName(m.Header):
		v.fail(p+".metering.header", "must be an HTTP header name such as X-Usage")
	case strings.HasPrefix(strings.ToLower(h), "payment-") || strings.HasPrefix(strings.ToLower(h), "x-payment") || slices.Contains([]string{"Content-Length", "Content-Type", "Trailer", "Transfer-Encoding", "Connection"}, h):
		v.fail(p+".metering.header", "%s is not a header the gateway may take off the answer", m.Header)
	}
	if m.UnitPrice != "" {
		if price, err := x402.ParsePrice(m.UnitPrice); err != nil {
			v.fail(p+".metering.unitPrice", "must be a price such as \"$0.00002\"")
		} else if price.IsZero() {
			v.fail(p+".metering.unitPrice", "must be more than zero")
		}
	}
}

// chargeClasses are the values of routes[i].charge.
var chargeClasses = []string{"2xx", "3xx", "4xx", "5xx"}

// charge checks routes[i].charge: status classes, each once.
func (v *validator) charge(r *Route, p string) {
	if r.Charge == nil {
		return
	}
	if len(r.Charge) == 0 {
		v.fail(p+".charge", "must list at least one status class (2xx, 3xx, 4xx, 5xx); leave charge out to charge 2xx and 3xx")
		return
	}
	seen := map[string]bool{}
	for j, c := range r.Charge {
		k := fmt.Sprintf("%s.charge[%d]", p, j)
		switch {
		case !slices.Contains(chargeClasses, c):
			v.fail(k, "%q is not a status class: must be 2xx, 3xx, 4xx or 5xx", c)
		case seen[c]:
			v.fail(k, "%s is listed twice", c)
		}
		seen[c] = true
	}
}

// checkUpstream returns what is wrong with an upstream URL, or "".
func checkUpstream(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return "must be an http:// or https:// URL"
	case u.User != nil:
		return "must not contain credentials"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "must not contain a query or a fragment"
	}
	return ""
}
