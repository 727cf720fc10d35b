package x402http

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

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
	// unsettledLimit is Config.MaxUnsettledPerPayer with its default
	// applied: -1 for no limit.
	unsettledLimit int
	// settling is the settlement pool's state (settler.go).
	settling settling
	// responses and maxStored are Config.Responses and
	// Config.MaxStoredResponse with their defaults applied.
	responses ResponseStore
	maxStored int
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
	if cfg.Schemes == nil && len(cfg.Routes) > 0 {
		return nil, errors.New("x402http: Config.Schemes is required (for EVM \"exact\": evm.ServerSchemes)")
	}
	if cfg.MaxBufferBytes <= 0 {
		cfg.MaxBufferBytes = DefaultMaxBufferBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := settleDefaults(&cfg); err != nil {
		return nil, err
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
	m.unsettledLimit = unsettledLimit(cfg)
	if m.responses = cfg.Responses; m.responses == nil {
		if rs, ok := cfg.Queue.(ResponseStore); ok {
			m.responses = rs // durable, shared like the queue's claims
		} else {
			m.responses = &MemoryResponses{Now: cfg.Now}
		}
	}
	if m.maxStored = cfg.MaxStoredResponse; m.maxStored <= 0 {
		m.maxStored = DefaultMaxStoredResponse
	}
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
			if err := checkOption(&cfg, r, &o); err != nil {
				return nil, fmt.Errorf("x402http: route %q option %d: %w", r.Pattern, j, err)
			}
		}
		if r.Policy == ServeThenSettle && cfg.Queue == nil {
			return nil, fmt.Errorf("x402http: route %q is serve-then-settle but Config.Queue is nil", r.Pattern)
		}
		if r.Policy == ServeThenSettle && r.MaxTimeoutSeconds > 0 && time.Duration(r.MaxTimeoutSeconds)*time.Second <= 2*settleMargin {
			return nil, fmt.Errorf("x402http: route %q is serve-then-settle: MaxTimeoutSeconds must be more than %d, so that a payment can still be settled after serving", r.Pattern, int(2*settleMargin/time.Second))
		}
		if c.limiter, err = routeLimiter(r); err != nil {
			return nil, err
		}
		if c.units, err = unitAmounts(&cfg, r); err != nil {
			return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
		}
		if r.Price == nil {
			reqs, err := m.buildRequirements(c, nil)
			if err != nil {
				return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
			}
			if c.static, err = newAnswer(reqs, r.Description, r.MimeType, c.Extensions); err != nil { // c.Extensions: with Discovery
				return nil, fmt.Errorf("x402http: route %q: %w", r.Pattern, err)
			}
		}
		m.routes = append(m.routes, c)
	}
	return m, nil
}

// checkOption checks a payment option of route r at start-up: a payTo, a
// CAIP-2 network, a registered scheme server, and a price that resolves or
// an explicit amount and asset.
func checkOption(cfg *Config, r Route, o *PaymentOption) error {
	if o.PayTo == "" {
		return errors.New("payTo is required")
	}
	if _, err := x402.ParseNetwork(string(o.Network)); err != nil {
		return err
	}
	srv, _, err := cfg.Schemes.Lookup(x402.V2, optionScheme(o), o.Network)
	if err != nil {
		return err
	}
	switch {
	case o.Price != "" && r.Price != nil:
		// A static route's prices are resolved by New, once; a priced
		// route's options are checked here so that a mistake in them
		// shows at start-up rather than on a request.
		p, err := x402.ParsePrice(o.Price)
		if err != nil {
			return err
		}
		_, err = srv.Requirements(o.Network, p, o.PayTo, 60)
		return err
	case o.Price == "" && r.Price == nil && o.Asset == "":
		return errors.New("give a Price, or an Amount with its Asset")
	}
	return nil
}

// optionScheme is the option's scheme, "exact" by default.
func optionScheme(o *PaymentOption) string {
	if o.Scheme == "" {
		return "exact"
	}
	return o.Scheme
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
			writeJSON(w, http.StatusBadRequest, "ambiguous path: it may be read as another paid route's (encoded separators or trailing whitespace)")
			return
		}
		m.decorate(w.Header(), r)
		if isPreflight(r) {
			m.preflight(w, r)
			return
		}
		m.serve(w, m.withRoute(r, route), route, next)
	})
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
	ans, err := newAnswer(reqs, route.Description, route.MimeType, route.Extensions)
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
			srv, _, err := m.cfg.Schemes.Lookup(x402.V2, optionScheme(&o), o.Network)
			if err != nil {
				return nil, fmt.Errorf("option %d: %w", j, err)
			}
			if req, err = srv.Requirements(o.Network, *p, o.PayTo, timeout); err != nil {
				return nil, fmt.Errorf("option %d: %w", j, err)
			}
		default:
			req = x402.PaymentRequirements{Network: o.Network, Amount: o.Amount, Asset: o.Asset, PayTo: o.PayTo, MaxTimeoutSeconds: timeout, Extra: o.Extra}
		}
		req.Scheme = optionScheme(&o)
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

// payOutcome is what became of a verified payment.
type payOutcome int

const (
	// unused: the request was refused before its handler ran; the
	// payment's claims are released, and the same payment may be sent
	// again.
	unused payOutcome = iota
	// notCharged: the handler ran and its answer was not charged (or was
	// withheld: the settlement was refused, the queue failed); nothing is
	// settled. Every claim is kept until the authorization expires: one
	// payment, one response, charged or not.
	notCharged
	// settled: the chain shows the authorization used; every claim is
	// kept until the authorization expires.
	settled
	// inFlight: the payment is queued, or its settlement pending or
	// unknown; every claim is kept until the authorization expires.
	inFlight
)

// serve handles a request to a protected route.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, route *compiledRoute, next http.Handler) {
	ip, limited := m.limitIP(w, r, route) // ratelimit.go
	if limited {
		return
	}
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
	header := r.Header.Get(x402.HeaderPaymentSignature)
	if header == "" {
		header = r.Header.Get(x402.HeaderXPayment)
	}
	if header == "" {
		if m.freeRequest(ip, route) {
			next.ServeHTTP(w, r)
			return
		}
		m.paymentRequired(w, r, ans, res, "Payment required", nil, x402.V2)
		return
	}
	if route.PaymentIdentifier != PaymentIDOff {
		var finish func()
		if w, r, finish = m.idempotent(w, r, route, header); finish == nil {
			return
		}
		defer finish()
	}
	if route.Policy == ServeThenSettle && m.backPressure(w, r, route.MaxTimeoutSeconds) {
		return
	}
	cands, msg := m.matchPayment(r.Method, header, ans.reqs, res)
	if len(cands) == 0 {
		m.paymentRequired(w, r, ans, res, msg, nil, x402.V2)
		return
	}
	if a, ok := cands[0].srv.(x402.ChargeAdmitter); ok {
		m.serveAdmitted(w, r, next, route, a, &cands[0], ans, res)
		return
	}
	if route.Policy == ServeThenSettle && !m.settleable(cands[0].id.Expires) {
		// Refused before it is verified, so that the facilitator holds
		// nothing for it: the queue could not settle it after serving.
		m.log.Info("payment expires too soon to be settled after serving; refusing", "expires", cands[0].id.Expires)
		m.paymentRequired(w, r, ans, res, "payment expires too soon to be settled", nil, cands[0].freq.X402Version)
		return
	}
	if m.payerWaits(w, route, cands[0].id.Key.Payer) { // ratelimit.go
		return
	}
	v, ok := m.verify(w, r, cands, ans, res)
	if !ok {
		return
	}
	m.servePaid(w, r, next, route, v, ans, res)
}

// servePaid serves a verified payment: the payer limit, the durable claim,
// the payer's unsettled hold, then the handler under the route's
// settlement policy (or metered).
func (m *Middleware) servePaid(w http.ResponseWriter, r *http.Request, next http.Handler, route *compiledRoute, v verified, ans *staticAnswer, res *x402.ResourceInfo) {
	pay := v.pay
	if m.limitPayer(w, route, cmp.Or(pay.Payer, v.payer)) {
		// Refused before it is used: released, as a refused payment is.
		m.claims.release(v.key)
		return
	}
	if m.cfg.Queue != nil && !m.claimDurably(w, r, v, ans, res) {
		return
	}
	out, held := unused, false
	defer func() { m.finish(r, &v, out, held) }()
	ms, metered := v.srv.(x402.MeteredScheme)
	// A metered answer is served before it settles, as a serve-then-settle
	// one is: both count against the payer's unsettled payments.
	if (route.Policy == ServeThenSettle || metered) && m.unsettledLimit >= 0 {
		if held = m.claims.hold(v.payer, v.key, v.until, m.cfg.Now(), m.unsettledLimit); !held {
			m.log.Info("payer has unsettled payments; refusing another until they settle", "payer", pay.Payer, "limit", m.unsettledLimit)
			m.paymentRequired(w, r, ans, res, string(x402.ReasonPayerHasUnsettledPayment), nil, pay.Version)
			return
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), paymentKey{}, pay))
	if metered {
		m.serveMetered(w, r, next, route, &v, ms, ans, res, &out)
		return
	}
	if route.Policy == ServeThenSettle {
		m.serveThenSettle(w, r, next, route, &v, &out)
		return
	}
	out = notCharged // if the handler panics, it ran
	out = m.settleBeforeServe(w, r, next, route, pay, ans, res)
}

// finish ends what serve started for a payment once its request is done:
// the claims of a payment no handler used are released, and the
// unsettled-payment hold of one with nothing queued ends.
func (m *Middleware) finish(r *http.Request, v *verified, out payOutcome, held bool) {
	noteOutcome(r, out)
	if held && out != inFlight {
		m.claims.unhold(v.payer, v.key)
	}
	if out != unused {
		m.countPaid(r)
		// The handler ran: the claim stays until the authorization
		// expires, charged or not. Once settled, only the facilitator
		// would stand between a copy and a second response, and its
		// chain read may lag behind the settlement; not charged, the
		// payment bought this answer, and only this one.
		return
	}
	m.claims.release(v.key)
	if m.cfg.Queue != nil {
		if err := m.cfg.Queue.Release(context.WithoutCancel(r.Context()), v.key); err != nil {
			m.log.Warn("releasing an unused payment's claim failed; it stays unusable until it expires", "payer", v.pay.Payer, "err", err)
		}
	}
}

// claimSlack is how long past the route's MaxTimeoutSeconds a claim may
// last when the authorization stays valid longer: long enough for any
// settlement, and for a lagging chain read to show it, to be done.
const claimSlack = 10 * time.Minute

// verified is a payment the facilitator (or the scheme's server) found
// valid, claimed in process under the scheme's settle-once key.
type verified struct {
	pay     *Payment
	key     string
	payer   string    // the payer of the asset on the network, for the unsettled limit
	until   time.Time // the claim's end: when the authorization expires
	expires time.Time // zero if the payload does not say
	srv     x402.SchemeServer
	opt     int // the index of the route's option paid
}

// verify claims and verifies the candidates in turn until one is valid.
// One payment, one response: the authorization is claimed before it is
// verified, so that parallel copies of a payment are refused while the
// first is being served. It answers the request itself when it returns
// false.
func (m *Middleware) verify(w http.ResponseWriter, r *http.Request, cands []candidate, ans *staticAnswer, res *x402.ResourceInfo) (verified, bool) {
	now := m.cfg.Now()
	reason := ""
	for i := range cands {
		c := &cands[i]
		v := verified{key: c.id.Key.String(), payer: payerKey(c.id.Key), expires: c.id.Expires, srv: c.srv, opt: c.opt}
		v.until = now.Add(time.Duration(c.req.MaxTimeoutSeconds) * time.Second)
		if c.id.Expires.After(v.until) {
			// As long as the authorization is valid, but no more than
			// claimSlack beyond the route's timeout: a payer naming an
			// expiry far in the future must not pin a claim for ever.
			v.until = c.id.Expires
			if limit := now.Add(time.Duration(c.req.MaxTimeoutSeconds)*time.Second + claimSlack); v.until.After(limit) {
				v.until = limit
			}
		}
		if !m.claims.claim(v.key, v.until, now) {
			m.paymentRequired(w, r, ans, res, "payment already used for another request", nil, c.freq.X402Version)
			return verified{}, false
		}
		vr, err := m.verifyOne(r.Context(), c)
		if err != nil {
			m.claims.release(v.key)
			m.log.Error("facilitator verify failed", "err", err)
			writeJSON(w, http.StatusBadGateway, "payment could not be verified: facilitator unavailable")
			return verified{}, false
		}
		if vr.IsValid {
			v.pay = &Payment{Version: c.freq.X402Version, Payer: vr.Payer, Requirements: c.req, Request: c.freq}
			return v, true
		}
		m.claims.release(v.key)
		m.log.Info("payment invalid", "reason", vr.InvalidReason, "message", vr.InvalidMessage, "payer", vr.Payer)
		if reason == "" {
			reason = string(vr.InvalidReason)
		}
	}
	if reason == "" {
		reason = "payment invalid"
	}
	m.paymentRequired(w, r, ans, res, reason, nil, cands[0].freq.X402Version)
	return verified{}, false
}

// verifyOne asks the scheme's server for a verdict where it can give one,
// else the facilitator.
func (m *Middleware) verifyOne(ctx context.Context, c *candidate) (*x402.VerifyResponse, error) {
	if lv, ok := c.srv.(x402.LocalVerifier); ok {
		vr, err := lv.VerifyLocal(ctx, c.pay)
		if err != nil || vr != nil {
			return vr, err
		}
	}
	return m.cfg.Facilitator.Verify(ctx, c.freq)
}

// claimDurably claims a verified payment in the queue, which every server
// sharing it sees, across restarts. It answers the request itself when it
// returns false.
func (m *Middleware) claimDurably(w http.ResponseWriter, r *http.Request, v verified, ans *staticAnswer, res *x402.ResourceInfo) bool {
	err := m.cfg.Queue.Claim(r.Context(), v.key, v.until)
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrDuplicate):
		// Served before: by another server sharing the queue, or by this
		// one before a restart. The in-process claim stays.
		m.log.Info("payment already used", "payer", v.pay.Payer)
		m.paymentRequired(w, r, ans, res, "payment already used for another request", nil, v.pay.Version)
	default:
		m.claims.release(v.key)
		m.log.Error("claiming the payment in the queue failed; refusing to serve", "payer", v.pay.Payer, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, "payment could not be processed")
	}
	return false
}
