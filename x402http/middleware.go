package x402http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http/paywall"
)

// settleTimeout bounds a settlement made before serving.
const settleTimeout = 2 * time.Minute

// Defaults.
const (
	DefaultMaxTimeoutSeconds = 300
	DefaultMaxBufferBytes    = 32 << 20
	DefaultCORSMaxAge        = 10 * time.Minute
)

// Header values the middleware adds.
const (
	exposedHeaders = x402.HeaderPaymentRequired + ", " + x402.HeaderPaymentResponse + ", " + x402.HeaderXPaymentResponse
	allowedHeaders = x402.HeaderPaymentSignature + ", " + x402.HeaderXPayment + ", Content-Type, Authorization"
	// paidCacheControl keeps a paid response out of shared caches and off
	// disk: another client must not get it without paying.
	paidCacheControl = "private, no-store"
)

// Middleware is the x402 payment middleware for net/http.
type Middleware struct {
	cfg     Config
	routes  []*compiledRoute
	log     *slog.Logger
	paywall func(http.ResponseWriter, *http.Request, *x402.PaymentRequired)
	claims  *Claims
	cors    corsPolicy
}

// corsPolicy is Config.CORS, prepared.
type corsPolicy struct {
	origins      map[string]bool // lower-cased; nil: the application decides
	anyOrigin    bool
	credentials  bool
	allowHeaders string
	maxAge       string
}

// New checks the configuration and returns the middleware.
func New(cfg Config) (*Middleware, error) {
	if cfg.Facilitator == nil {
		return nil, errors.New("x402http: a Facilitator is required")
	}
	if cfg.MaxBufferBytes <= 0 {
		cfg.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := &Middleware{cfg: cfg, log: cfg.Logger, paywall: cfg.Paywall, claims: cfg.Claims}
	if m.claims == nil {
		m.claims = &Claims{}
	}
	if m.paywall == nil {
		m.paywall = paywall.Handler(paywall.Options{})
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "x402http")
	var err error
	if m.cors, err = newCORSPolicy(cfg.CORS); err != nil {
		return nil, err
	}
	for _, r := range cfg.Routes {
		c, err := compile(r)
		if err != nil {
			return nil, err
		}
		if len(r.Accepts) == 0 {
			return nil, fmt.Errorf("x402http: route %q has no payment options", r.Pattern)
		}
		for j, o := range r.Accepts {
			if o.PayTo == "" {
				return nil, fmt.Errorf("x402http: route %q option %d: payTo is required", r.Pattern, j)
			}
			if _, err := x402.ParseNetwork(string(o.Network)); err != nil {
				return nil, fmt.Errorf("x402http: route %q option %d: %w", r.Pattern, j, err)
			}
			if o.Price != "" || r.Price != nil {
				if cfg.Pricing == nil {
					return nil, fmt.Errorf("x402http: route %q uses a price but Config.Pricing is nil", r.Pattern)
				}
				// A static route's prices are resolved below, once; a priced
				// route's options are checked here so that a mistake in
				// them shows at start-up rather than on a request.
				if o.Price != "" && r.Price != nil {
					p, err := x402.ParsePrice(o.Price)
					if err != nil {
						return nil, fmt.Errorf("x402http: route %q option %d: %w", r.Pattern, j, err)
					}
					if _, err := cfg.Pricing.Requirements(o.Network, p, o.PayTo, 60); err != nil {
						return nil, fmt.Errorf("x402http: route %q option %d: %w", r.Pattern, j, err)
					}
				}
			} else if o.Asset == "" {
				return nil, fmt.Errorf("x402http: route %q option %d: give a Price, or an Amount with its Asset", r.Pattern, j)
			}
		}
		if r.Policy == ServeThenSettle && cfg.Queue == nil {
			return nil, fmt.Errorf("x402http: route %q is serve-then-settle but Config.Queue is nil", r.Pattern)
		}
		if r.Policy == ServeThenSettle && r.MaxTimeoutSeconds > 0 && time.Duration(r.MaxTimeoutSeconds)*time.Second <= 2*settleMargin {
			return nil, fmt.Errorf("x402http: route %q is serve-then-settle: MaxTimeoutSeconds must be more than %d, so that a payment can still be settled after serving", r.Pattern, int(2*settleMargin/time.Second))
		}
		if r.Price == nil {
			reqs, err := m.buildRequirements(c, nil)
			if err != nil {
				return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
			}
			if c.static, err = newAnswer(reqs, r.Description, r.MimeType); err != nil {
				return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
			}
		}
		m.routes = append(m.routes, c)
	}
	return m, nil
}

func newCORSPolicy(c CORS) (corsPolicy, error) {
	p := corsPolicy{credentials: c.AllowCredentials, allowHeaders: allowedHeaders}
	for _, o := range c.AllowOrigins {
		o = strings.TrimSpace(o)
		switch {
		case o == "*":
			p.anyOrigin = true
		case o == "" || strings.ContainsAny(o, " ,\r\n"):
			return p, fmt.Errorf("x402http: CORS.AllowOrigins: %q is not an origin such as https://app.example", o)
		default:
			if p.origins == nil {
				p.origins = map[string]bool{}
			}
			p.origins[strings.ToLower(strings.TrimSuffix(o, "/"))] = true
		}
	}
	if p.anyOrigin && p.origins == nil {
		p.origins = map[string]bool{}
	}
	for _, h := range c.AllowHeaders {
		h = strings.TrimSpace(h)
		if !httpguts.ValidHeaderFieldName(h) {
			return p, fmt.Errorf("x402http: CORS.AllowHeaders: %q is not a header name", h)
		}
		p.allowHeaders += ", " + h
	}
	maxAge := c.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultCORSMaxAge
	}
	p.maxAge = fmt.Sprint(int64(maxAge / time.Second))
	return p, nil
}

// isPreflight reports whether r is a CORS preflight request.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
}

// Handler wraps next: requests matching a route must pay; others pass
// through untouched.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, out := m.match(r)
		switch out {
		case matchNone:
			next.ServeHTTP(w, r)
			return
		case matchOtherMethod:
			// The path is priced for another method. Handlers and file
			// servers often ignore the method, so fail closed.
			if allow := m.allowedMethods(r); allow != "" {
				w.Header().Set("Allow", allow)
			}
			writeJSON(w, http.StatusMethodNotAllowed, "method not allowed on a paid route")
			return
		case matchAmbiguous:
			writeJSON(w, http.StatusBadRequest, "ambiguous path: its encoded separators select another paid route")
			return
		}
		m.decorate(w.Header(), r)
		if isPreflight(r) {
			m.preflight(w, r)
			return
		}
		m.serve(w, r, route, next)
	})
}

// decorate adds the x402 and CORS headers of every answer of a priced
// route, merged with those already set.
func (m *Middleware) decorate(h http.Header, r *http.Request) {
	addTokens(h, "Access-Control-Expose-Headers", exposedHeaders)
	addTokens(h, "Vary", "Accept")
	if m.cors.origins == nil {
		return // the application's policy
	}
	origin := r.Header.Get("Origin")
	allowed := origin != "" && (m.cors.anyOrigin || m.cors.origins[strings.ToLower(origin)])
	if m.cors.anyOrigin && !m.cors.credentials {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	addTokens(h, "Vary", "Origin")
	if !allowed {
		h.Del("Access-Control-Allow-Origin")
		h.Del("Access-Control-Allow-Credentials")
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if m.cors.credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}

// preflight answers a CORS preflight for a priced route; it never reaches
// the handler, which might serve content to it.
func (m *Middleware) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	addTokens(h, "Access-Control-Allow-Methods", strings.ToUpper(r.Header.Get("Access-Control-Request-Method")))
	addTokens(h, "Access-Control-Allow-Headers", m.cors.allowHeaders)
	if h.Get("Access-Control-Max-Age") == "" {
		h.Set("Access-Control-Max-Age", m.cors.maxAge)
	}
	w.WriteHeader(http.StatusNoContent)
}

// addTokens adds the comma-separated tokens of list to the header key,
// keeping its values and leaving out tokens it has already
// (case-insensitively).
func addTokens(h http.Header, key, list string) {
	vals := h[key]
	if len(vals) == 0 {
		h[key] = []string{list}
		return
	}
	var missing []string
	for t := range strings.SplitSeq(list, ",") {
		if t = strings.TrimSpace(t); t != "" && !hasToken(vals, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		h[key] = append(vals, strings.Join(missing, ", "))
	}
}

// hasToken reports whether the comma-separated values hold token.
func hasToken(vals []string, token string) bool {
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// keepPrivate makes a paid response uncacheable by shared caches: its
// Cache-Control becomes "private, no-store" unless the handler's already
// has an unqualified private or no-store directive (a handler may let the
// payer's own browser keep what it paid for, with "private, max-age=60").
func keepPrivate(h http.Header) {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "private" || d == "no-store" {
				return
			}
		}
	}
	h.Set("Cache-Control", paidCacheControl)
}

// requirements returns the payment requirements of route for r and the
// static parts of its 402 answer, or free if a Price func made it free.
func (m *Middleware) requirements(r *http.Request, route *compiledRoute) (*staticAnswer, *x402.ResourceInfo, bool, error) {
	res := &x402.ResourceInfo{URL: route.Resource, Description: route.Description, MimeType: route.MimeType}
	if res.URL == "" {
		res.URL = requestURL(r)
	}
	if route.static != nil {
		return route.static, res, false, nil
	}
	p, err := route.Price(r)
	if err != nil {
		return nil, nil, false, fmt.Errorf("pricing the request: %w", err)
	}
	if p.IsZero() {
		return nil, nil, true, nil
	}
	reqs, err := m.buildRequirements(route, &p)
	if err != nil {
		return nil, nil, false, err
	}
	ans, err := newAnswer(reqs, route.Description, route.MimeType)
	if err != nil {
		return nil, nil, false, err
	}
	return ans, res, false, nil
}

// buildRequirements builds the requirements of route's options, at the
// price dynamic if it is not nil.
func (m *Middleware) buildRequirements(route *compiledRoute, dynamic *x402.Price) ([]x402.PaymentRequirements, error) {
	timeout := route.MaxTimeoutSeconds
	if timeout <= 0 {
		timeout = DefaultMaxTimeoutSeconds
	}
	reqs := make([]x402.PaymentRequirements, 0, len(route.Accepts))
	for j, o := range route.Accepts {
		var req x402.PaymentRequirements
		switch {
		case dynamic != nil || o.Price != "":
			p := dynamic
			if p == nil {
				parsed, err := x402.ParsePrice(o.Price)
				if err != nil {
					return nil, fmt.Errorf("option %d: %w", j, err)
				}
				p = &parsed
			}
			var err error
			if req, err = m.cfg.Pricing.Requirements(o.Network, *p, o.PayTo, timeout); err != nil {
				return nil, fmt.Errorf("option %d: %w", j, err)
			}
		default:
			req = x402.PaymentRequirements{Network: o.Network, Amount: o.Amount, Asset: o.Asset, PayTo: o.PayTo, MaxTimeoutSeconds: timeout, Extra: o.Extra}
		}
		req.Scheme = o.Scheme
		if req.Scheme == "" {
			req.Scheme = "exact"
		}
		req.MaxTimeoutSeconds = timeout
		reqs = append(reqs, req)
	}
	return reqs, nil
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// payOutcome is what became of a payment whose handler ran.
type payOutcome int

const (
	// notCharged: the payment was not used (the handler failed, or the
	// settlement was refused); its claims are released.
	notCharged payOutcome = iota
	// settled: the chain shows the authorization used; the in-process
	// claim is released, the durable one kept.
	settled
	// inFlight: the payment is queued, or its settlement pending or
	// unknown; every claim is kept until the authorization expires.
	inFlight
)

// serve handles a request to a protected route.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, route *compiledRoute, next http.Handler) {
	ans, res, free, err := m.requirements(r, route)
	if err != nil {
		m.log.Error("building payment requirements", "route", route.Pattern, "err", err)
		writeJSON(w, http.StatusInternalServerError, "payment requirements unavailable")
		return
	}
	if free {
		next.ServeHTTP(w, r)
		return
	}
	v2, v1 := r.Header.Get(x402.HeaderPaymentSignature), r.Header.Get(x402.HeaderXPayment)
	if v2 == "" && v1 == "" {
		m.paymentRequired(w, r, ans, res, "Payment required", nil, x402.V2)
		return
	}
	cands, msg := matchPayment(r.Method, v2, v1, ans.reqs, res)
	if len(cands) == 0 {
		m.paymentRequired(w, r, ans, res, msg, nil, x402.V2)
		return
	}
	// One payment, one response: claim the authorization before verifying,
	// so that parallel copies of a payment are refused while the first is
	// being served.
	now := m.cfg.Now()
	var pay *Payment
	var auth authorization
	var key string
	var until time.Time
	reason := ""
	for i := range cands {
		c := &cands[i]
		key = authorizationKey(&c.req, &c.auth, paymentObject(c.freq))
		until = now.Add(time.Duration(c.req.MaxTimeoutSeconds) * time.Second)
		if exp, ok := c.auth.expires(); ok && exp.After(until) {
			until = exp
		}
		if !m.claims.claim(key, until, now) {
			m.paymentRequired(w, r, ans, res, "payment already used for another request", nil, c.freq.X402Version)
			return
		}
		vr, err := m.cfg.Facilitator.Verify(r.Context(), c.freq)
		if err != nil {
			m.claims.release(key)
			m.log.Error("facilitator verify failed", "err", err)
			writeJSON(w, http.StatusBadGateway, "payment could not be verified: facilitator unavailable")
			return
		}
		if vr.IsValid {
			pay = &Payment{Version: c.freq.X402Version, Payer: vr.Payer, Requirements: c.req, Request: c.freq}
			auth = c.auth
			break
		}
		m.claims.release(key)
		m.log.Info("payment invalid", "reason", vr.InvalidReason, "message", vr.InvalidMessage, "payer", vr.Payer)
		if reason == "" {
			reason = string(vr.InvalidReason)
		}
	}
	if pay == nil {
		if reason == "" {
			reason = "payment invalid"
		}
		m.paymentRequired(w, r, ans, res, reason, nil, cands[0].freq.X402Version)
		return
	}
	durable := m.cfg.Queue != nil
	if durable {
		if err := m.cfg.Queue.Claim(r.Context(), key, until); err != nil {
			if errors.Is(err, ErrDuplicate) {
				// Served before: by another server sharing the queue, or by
				// this one before a restart. The in-process claim stays.
				m.log.Info("payment already used", "payer", pay.Payer)
				m.paymentRequired(w, r, ans, res, "payment already used for another request", nil, pay.Version)
				return
			}
			m.claims.release(key)
			m.log.Error("claiming the payment in the queue failed; refusing to serve", "payer", pay.Payer, "err", err)
			writeJSON(w, http.StatusServiceUnavailable, "payment could not be processed")
			return
		}
	}
	out := notCharged
	defer func() {
		if out == inFlight {
			return
		}
		m.claims.release(key)
		if out == notCharged && durable {
			if err := m.cfg.Queue.Release(context.WithoutCancel(r.Context()), key); err != nil {
				m.log.Warn("releasing an unused payment's claim failed; it stays unusable until it expires", "payer", pay.Payer, "err", err)
			}
		}
	}()
	r = r.WithContext(context.WithValue(r.Context(), paymentKey{}, pay))
	if route.Policy == ServeThenSettle {
		out = m.serveThenSettle(w, r, next, pay, &auth, key)
		return
	}
	out = m.settleBeforeServe(w, r, next, pay, ans, res)
}

// paymentObject returns the scheme payload of a facilitator request.
func paymentObject(freq *x402.FacilitatorRequest) x402.Object {
	if freq.Payload != nil {
		return freq.Payload.Payload
	}
	if freq.PayloadV1 != nil {
		return freq.PayloadV1.Payload
	}
	return nil
}

// candidate is a requirement a payment may pay, and the facilitator request
// that pays it.
type candidate struct {
	req  x402.PaymentRequirements
	freq *x402.FacilitatorRequest
	auth authorization
}

// matchPayment decodes the payment header and pairs it with the
// requirements it may pay, comparing every field: a v2 payment names the
// requirement it accepted; a v1 payment names its scheme and network, and
// its authorization the recipient and the amount (and, for Permit2, the
// token), which leaves several candidates only when options differ in
// their asset alone; the facilitator tells them apart by the signature. The
// facilitator requests are built from the server's own requirements.
func matchPayment(method, v2, v1 string, reqs []x402.PaymentRequirements, res *x402.ResourceInfo) ([]candidate, string) {
	h := v2
	if h == "" {
		h = v1
	}
	dec, err := x402.DecodePayment(h)
	if err != nil {
		return nil, "invalid payment header: " + err.Error()
	}
	var payload x402.Object
	if dec.V2 != nil {
		payload = dec.V2.Payload
	} else {
		payload = dec.V1.Payload
	}
	auth, err := readAuthorization(payload)
	if err != nil {
		return nil, "invalid payment payload: " + err.Error()
	}
	if dec.V2 != nil {
		for i := range reqs {
			if requirementsEqual(&dec.V2.Accepted, &reqs[i]) {
				c := candidate{req: reqs[i], auth: auth}
				c.req.Extra = slices.Clone(c.req.Extra)
				// The payer does not sign the resource, and the facilitator
				// binds a settlement to the resource it is told: tell it
				// this server's, never the client's claim.
				payload := *dec.V2
				if res != nil {
					own := *res
					payload.Resource = &own
				}
				c.freq = x402.NewFacilitatorRequest(&payload, &c.req)
				return []candidate{c}, ""
			}
		}
		return nil, "No matching payment requirements"
	}
	var cands []candidate
	for i := range reqs {
		if reqs[i].Scheme != dec.V1.Scheme || reqs[i].Network != dec.V1.Network.Canonical() || !auth.pays(&reqs[i]) {
			continue
		}
		rv1, err := requirementsV1(method, &reqs[i], res)
		if err != nil {
			continue
		}
		c := candidate{req: reqs[i], auth: auth, freq: x402.NewFacilitatorRequestV1(dec.V1, &rv1)}
		c.req.Extra = slices.Clone(c.req.Extra)
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return nil, "Unable to find matching payment requirements"
	}
	return cands, ""
}

// requirementsV1 is the v1 form of req for a request with the given method.
// Its outputSchema is what the legacy x402-express middleware sends,
// {"input":{"type":"http","method":…,"discoverable":true}}: the legacy
// x402-fetch client validates outputSchema as an optional object and refuses
// a 402 body whose outputSchema is null.
func requirementsV1(method string, req *x402.PaymentRequirements, res *x402.ResourceInfo) (x402.PaymentRequirementsV1, error) {
	v1, err := x402.RequirementsV1(req, res)
	if err != nil {
		return v1, err
	}
	v1.OutputSchema, err = x402.NewObject(v1OutputSchema{Input: v1InputSchema{Type: "http", Method: v1Method(method), Discoverable: true}})
	return v1, err
}

// v1Method is the method a v1 outputSchema names for a request: upper case,
// and GET for HEAD, which pays as GET.
func v1Method(method string) string {
	method = strings.ToUpper(method)
	if method == http.MethodHead {
		return http.MethodGet
	}
	return method
}

// v1OutputSchema is the legacy middleware's outputSchema: how to call the
// resource (the pre-v2 discovery data).
type v1OutputSchema struct {
	Input v1InputSchema `json:"input"`
}

type v1InputSchema struct {
	Type         string `json:"type"`
	Method       string `json:"method"`
	Discoverable bool   `json:"discoverable"`
}

// requirementsEqual compares what a client accepted with what the server
// requires: every field, addresses case-insensitively, the amount exactly,
// extra as JSON.
func requirementsEqual(a, b *x402.PaymentRequirements) bool {
	return a.Scheme == b.Scheme &&
		a.Network == b.Network &&
		a.Amount == b.Amount &&
		strings.EqualFold(a.Asset, b.Asset) &&
		strings.EqualFold(a.PayTo, b.PayTo) &&
		a.MaxTimeoutSeconds == b.MaxTimeoutSeconds &&
		a.Extra.Equal(b.Extra)
}

// paymentRequired answers 402: the PAYMENT-REQUIRED header (v2), a v1 JSON
// body, or the paywall page for browsers, and, when a settlement failed,
// its response in PAYMENT-RESPONSE (or X-PAYMENT-RESPONSE for a v1
// payment).
func (m *Middleware) paymentRequired(w http.ResponseWriter, r *http.Request, ans *staticAnswer, res *x402.ResourceInfo, msg string, settle *x402.SettleResponse, version int) {
	h := w.Header()
	if enc, err := ans.header(msg, res.URL); err == nil {
		h.Set(x402.HeaderPaymentRequired, enc)
	} else {
		m.log.Error("PAYMENT-REQUIRED would be too large; sent without it", "err", err)
	}
	if settle != nil {
		if err := setSettlementHeader(h, version, settle); err != nil {
			m.log.Error("encoding the settlement response", "err", err)
		}
	}
	h.Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") && r.Header.Get(x402.HeaderPaymentSignature) == "" && r.Header.Get(x402.HeaderXPayment) == "" {
		m.paywall(w, r, &x402.PaymentRequired{X402Version: x402.V2, Error: msg, Resource: *res, Accepts: slices.Clone(ans.reqs)})
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusPaymentRequired)
	_, _ = w.Write(ans.body(msg, res.URL, r.Method))
}

// charged reports whether a handler status is charged: only a success
// (2xx). An informational status is not final; a redirect or 304 Not
// Modified delivers nothing (a client following the redirect pays at its
// target); an error is not charged.
func charged(status int) bool { return status >= 200 && status <= 299 }

// settleBeforeServe buffers the handler's response and releases it only
// after the payment settled.
func (m *Middleware) settleBeforeServe(w http.ResponseWriter, r *http.Request, next http.Handler, pay *Payment, ans *staticAnswer, res *x402.ResourceInfo) payOutcome {
	buf := newBufferedWriter(m.cfg.MaxBufferBytes, w.Header())
	next.ServeHTTP(buf, r)
	if buf.overflow {
		m.log.Error("response too large to buffer; not charged", "limit", m.cfg.MaxBufferBytes)
		writeJSON(w, http.StatusInternalServerError, "response too large")
		return notCharged
	}
	if !charged(buf.statusCode()) {
		buf.copyHeader(w)
		m.decorate(w.Header(), r)
		keepPrivate(w.Header())
		buf.flushTo(w)
		return notCharged
	}
	// The settlement outlives a client that disconnects meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), settleTimeout)
	defer cancel()
	sr, err := m.cfg.Facilitator.Settle(sctx, pay.Request)
	if err != nil {
		m.log.Error("facilitator settle failed", "payer", pay.Payer, "err", err)
		writeJSON(w, http.StatusBadGateway, "payment could not be settled: facilitator unavailable")
		return inFlight // the facilitator may still settle it
	}
	if !sr.Success && sr.ErrorReason != x402.ReasonSettlementPending {
		m.log.Info("settlement failed", "payer", pay.Payer, "reason", sr.ErrorReason, "message", sr.ErrorMessage)
		m.paymentRequired(w, r, ans, res, string(sr.ErrorReason), sr, pay.Version)
		return notCharged
	}
	// Settled, or broadcast and pending (the facilitator settles it at most
	// once and will confirm it): serve.
	buf.copyHeader(w)
	h := w.Header()
	m.decorate(h, r)
	keepPrivate(h)
	if err := setSettlementHeader(h, pay.Version, sr); err != nil {
		m.log.Error("encoding PAYMENT-RESPONSE", "err", err)
	}
	buf.flushTo(w)
	if !sr.Success {
		return inFlight
	}
	return settled
}

// settleMargin is how long a serve-then-settle payment must stay valid
// beyond the start of its response, for the queue to settle it.
const settleMargin = 30 * time.Second

// serveThenSettle serves right after verification and queues the
// settlement durably once the handler commits to a successful status.
func (m *Middleware) serveThenSettle(w http.ResponseWriter, r *http.Request, next http.Handler, pay *Payment, auth *authorization, key string) payOutcome {
	sw := &streamWriter{ResponseWriter: w}
	queued := false
	expires, hasExpiry := auth.expires()
	// The queue must still be able to settle the payment after the
	// response: the facilitator refuses an authorization with only seconds
	// left, so one that expires within settleMargin is refused before the
	// handler runs, and again if the handler took that long.
	settleable := func() bool { return !hasExpiry || m.cfg.Now().Add(settleMargin).Before(expires) }
	if !settleable() {
		m.log.Info("payment expires too soon to be settled after serving; refusing", "payer", pay.Payer, "expires", expires)
		m.decorate(w.Header(), r)
		sw.fail(http.StatusPaymentRequired, "payment expires too soon to be settled")
		return notCharged
	}
	sw.onHeader = func(status int) {
		h := w.Header()
		m.decorate(h, r)
		keepPrivate(h)
		if !charged(status) {
			return // failures and redirects are not charged
		}
		if !settleable() {
			// The settlement could only fail: nothing may be served unpaid.
			m.log.Warn("payment about to expire when the handler answered; refusing to serve", "payer", pay.Payer)
			sw.fail(http.StatusPaymentRequired, "payment expired before the response was ready")
			return
		}
		err := m.cfg.Queue.Enqueue(context.WithoutCancel(r.Context()), key, pay.Request)
		switch {
		case errors.Is(err, ErrDuplicate):
			m.log.Info("payment already queued for another response; refusing to serve", "payer", pay.Payer)
			sw.fail(http.StatusPaymentRequired, "payment already used for another request")
		case err != nil:
			// Nothing may be served unpaid: answer 503 instead of the
			// handler's response.
			m.log.Error("queueing settlement failed; refusing to serve", "payer", pay.Payer, "err", err)
			sw.fail(http.StatusServiceUnavailable, "payment could not be processed")
		default:
			queued = true
		}
	}
	next.ServeHTTP(sw, r)
	if !sw.wroteHeader {
		sw.WriteHeader(http.StatusOK)
	}
	if queued {
		return inFlight
	}
	return notCharged
}

func setSettlementHeader(h http.Header, version int, sr *x402.SettleResponse) error {
	enc, err := x402.EncodePaymentResponse(sr)
	if err != nil {
		return err
	}
	if version == x402.V1 {
		h.Set(x402.HeaderXPaymentResponse, enc)
	} else {
		h.Set(x402.HeaderPaymentResponse, enc)
	}
	return nil
}

// writeJSON answers {"error":msg} with status; such an answer is never
// cached.
func writeJSON(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(appendJSONString([]byte(`{"error":`), msg), "}\n"...))
}
