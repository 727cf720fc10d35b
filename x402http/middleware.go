package x402http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
)

// Middleware is the x402 payment middleware for net/http.
type Middleware struct {
	cfg     Config
	routes  []*compiledRoute
	log     *slog.Logger
	paywall func(http.ResponseWriter, *http.Request, *x402.PaymentRequired)
	inUse   inUse
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
	m := &Middleware{cfg: cfg, log: cfg.Logger, paywall: cfg.Paywall}
	if m.paywall == nil {
		m.paywall = paywall.Handler(paywall.Options{})
	}
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m.log = m.log.With("component", "x402http")
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
				if o.Price != "" {
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
		m.routes = append(m.routes, c)
	}
	return m, nil
}

// Handler wraps next: requests matching a route must pay; others pass
// through untouched.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, otherMethod := m.match(r)
		if route == nil {
			if otherMethod {
				// The path is priced for another method. Handlers and file
				// servers often ignore the method, so fail closed.
				writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed on a paid route"})
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		exposeHeaders(w.Header())
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			preflight(w)
			return
		}
		m.serve(w, r, route, next)
	})
}

// match returns the route of r, and whether r's path is priced for some
// other method (then it must not reach the handler unpaid).
func (m *Middleware) match(r *http.Request) (route *compiledRoute, otherMethod bool) {
	readings := pathReadings(r)
	method := strings.ToUpper(r.Method)
	if method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		method = strings.ToUpper(r.Header.Get("Access-Control-Request-Method"))
	}
	for _, c := range m.routes {
		for _, segs := range readings {
			if !c.pathMatches(segs) {
				continue
			}
			if c.methodMatches(method) {
				return c, false
			}
			otherMethod = true
		}
	}
	return nil, otherMethod
}

// exposeHeaders lets browser scripts read the x402 headers.
func exposeHeaders(h http.Header) {
	h.Add("Access-Control-Expose-Headers", x402.HeaderPaymentRequired+", "+x402.HeaderPaymentResponse+", "+x402.HeaderXPaymentResponse)
	h.Add("Vary", "Accept")
}

// preflight answers a CORS preflight for a protected route.
func preflight(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", x402.HeaderPaymentSignature+", "+x402.HeaderXPayment+", Content-Type, Authorization")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// requirements builds the payment requirements of route for r.
func (m *Middleware) requirements(r *http.Request, route *compiledRoute) ([]x402.PaymentRequirements, *x402.ResourceInfo, bool, error) {
	timeout := route.MaxTimeoutSeconds
	if timeout <= 0 {
		timeout = DefaultMaxTimeoutSeconds
	}
	var dynamic *x402.Price
	if route.Price != nil {
		p, err := route.Price(r)
		if err != nil {
			return nil, nil, false, fmt.Errorf("pricing the request: %w", err)
		}
		if p.IsZero() {
			return nil, nil, true, nil // free
		}
		dynamic = &p
	}
	reqs := make([]x402.PaymentRequirements, 0, len(route.Accepts))
	for _, o := range route.Accepts {
		var req x402.PaymentRequirements
		switch {
		case dynamic != nil || o.Price != "":
			p := dynamic
			if p == nil {
				parsed, err := x402.ParsePrice(o.Price)
				if err != nil {
					return nil, nil, false, err
				}
				p = &parsed
			}
			var err error
			if req, err = m.cfg.Pricing.Requirements(o.Network, *p, o.PayTo, timeout); err != nil {
				return nil, nil, false, err
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
	res := &x402.ResourceInfo{URL: route.Resource, Description: route.Description, MimeType: route.MimeType}
	if res.URL == "" {
		res.URL = requestURL(r)
	}
	return reqs, res, false, nil
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// serve handles a request to a protected route.
func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, route *compiledRoute, next http.Handler) {
	reqs, res, free, err := m.requirements(r, route)
	if err != nil {
		m.log.Error("building payment requirements", "route", route.Pattern, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "payment requirements unavailable"})
		return
	}
	if free {
		next.ServeHTTP(w, r)
		return
	}
	v2, v1 := r.Header.Get(x402.HeaderPaymentSignature), r.Header.Get(x402.HeaderXPayment)
	if v2 == "" && v1 == "" {
		m.paymentRequired(w, r, reqs, res, "Payment required", nil)
		return
	}
	freq, chosen, msg := m.matchPayment(r.Method, v2, v1, reqs, res)
	if freq == nil {
		m.paymentRequired(w, r, reqs, res, msg, nil)
		return
	}
	// One payment, one response: refuse a copy of a payment that is being
	// served. The claim lasts until settlement (SettleBeforeServe) or until
	// the authorization expires (ServeThenSettle settles later).
	key := authorizationKey(*chosen, paymentObject(freq))
	if !m.inUse.claim(key, m.cfg.Now().Add(time.Duration(chosen.MaxTimeoutSeconds)*time.Second), m.cfg.Now()) {
		m.paymentRequired(w, r, reqs, res, "payment already used for another request", nil)
		return
	}
	keepClaim := false
	defer func() {
		if !keepClaim {
			m.inUse.release(key)
		}
	}()
	vr, err := m.cfg.Facilitator.Verify(r.Context(), freq)
	if err != nil {
		m.log.Error("facilitator verify failed", "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "payment could not be verified: facilitator unavailable"})
		return
	}
	if !vr.IsValid {
		msg := string(vr.InvalidReason)
		if msg == "" {
			msg = "payment invalid"
		}
		m.log.Info("payment invalid", "reason", vr.InvalidReason, "message", vr.InvalidMessage, "payer", vr.Payer)
		m.paymentRequired(w, r, reqs, res, msg, nil)
		return
	}
	pay := &Payment{Version: freq.X402Version, Payer: vr.Payer, Requirements: *chosen, Request: freq}
	r = r.WithContext(context.WithValue(r.Context(), paymentKey{}, pay))
	if route.Policy == ServeThenSettle {
		keepClaim = m.serveThenSettle(w, r, next, pay)
		return
	}
	keepClaim = m.settleBeforeServe(w, r, next, pay, reqs, res)
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

// matchPayment decodes the payment header and pairs it with the
// requirement it pays, comparing every field. It returns the facilitator
// request built from the server's own requirements.
func (m *Middleware) matchPayment(method, v2, v1 string, reqs []x402.PaymentRequirements, res *x402.ResourceInfo) (*x402.FacilitatorRequest, *x402.PaymentRequirements, string) {
	h := v2
	if h == "" {
		h = v1
	}
	dec, err := x402.DecodePayment(h)
	if err != nil {
		return nil, nil, "invalid payment header: " + err.Error()
	}
	if dec.V2 != nil {
		for i := range reqs {
			if requirementsEqual(&dec.V2.Accepted, &reqs[i]) {
				return x402.NewFacilitatorRequest(dec.V2, &reqs[i]), &reqs[i], ""
			}
		}
		return nil, nil, "No matching payment requirements"
	}
	for i := range reqs {
		if reqs[i].Scheme != dec.V1.Scheme || reqs[i].Network != dec.V1.Network.Canonical() {
			continue
		}
		rv1, err := requirementsV1(method, &reqs[i], res)
		if err != nil {
			continue
		}
		return x402.NewFacilitatorRequestV1(dec.V1, &rv1), &reqs[i], ""
	}
	return nil, nil, "Unable to find matching payment requirements"
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
	if method == http.MethodHead {
		method = http.MethodGet
	}
	v1.OutputSchema, err = x402.NewObject(v1OutputSchema{Input: v1InputSchema{Type: "http", Method: method, Discoverable: true}})
	return v1, err
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
// body, or the paywall page for browsers, and PAYMENT-RESPONSE when a
// settlement failed.
func (m *Middleware) paymentRequired(w http.ResponseWriter, r *http.Request, reqs []x402.PaymentRequirements, res *x402.ResourceInfo, msg string, settle *x402.SettleResponse, version ...int) {
	pr := &x402.PaymentRequired{X402Version: x402.V2, Error: msg, Resource: *res, Accepts: reqs}
	h := w.Header()
	if enc, err := x402.EncodePaymentRequired(pr); err == nil {
		h.Set(x402.HeaderPaymentRequired, enc)
	} else {
		m.log.Error("encoding PAYMENT-REQUIRED", "err", err)
	}
	if settle != nil {
		v := x402.V2
		if len(version) > 0 {
			v = version[0]
		}
		if err := setSettlementHeader(h, v, settle); err != nil {
			m.log.Error("encoding the settlement response", "err", err)
		}
	}
	h.Set("Cache-Control", "no-store")
	if strings.Contains(r.Header.Get("Accept"), "text/html") && r.Header.Get(x402.HeaderPaymentSignature) == "" && r.Header.Get(x402.HeaderXPayment) == "" {
		m.paywall(w, r, pr)
		return
	}
	body := x402.PaymentRequiredV1{X402Version: x402.V1, Error: msg, Accepts: []x402.PaymentRequirementsV1{}}
	for i := range reqs {
		if v1, err := requirementsV1(r.Method, &reqs[i], res); err == nil {
			body.Accepts = append(body.Accepts, v1)
		}
	}
	writeJSON(w, http.StatusPaymentRequired, body)
}

// settleBeforeServe buffers the handler's response and releases it only
// after the payment settled.
//
// It reports whether the payment must stay claimed: while a settlement is
// pending, the chain does not show the authorization used yet.
func (m *Middleware) settleBeforeServe(w http.ResponseWriter, r *http.Request, next http.Handler, pay *Payment, reqs []x402.PaymentRequirements, res *x402.ResourceInfo) bool {
	buf := newBufferedWriter(m.cfg.MaxBufferBytes)
	next.ServeHTTP(buf, r)
	if buf.overflow {
		m.log.Error("response too large to buffer; not charged", "limit", m.cfg.MaxBufferBytes)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "response too large"})
		return false
	}
	if st := buf.statusCode(); st >= 300 {
		// Failed responses and redirects are never charged: a redirect
		// delivers nothing, and the client pays again at its target.
		buf.flushTo(w)
		return false
	}
	// The settlement outlives a client that disconnects meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), settleTimeout)
	defer cancel()
	sr, err := m.cfg.Facilitator.Settle(sctx, pay.Request)
	if err != nil {
		m.log.Error("facilitator settle failed", "payer", pay.Payer, "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"error": "payment could not be settled: facilitator unavailable"})
		return true // the facilitator may still settle it
	}
	if !sr.Success && sr.ErrorReason != x402.ReasonSettlementPending {
		m.log.Info("settlement failed", "payer", pay.Payer, "reason", sr.ErrorReason, "message", sr.ErrorMessage)
		m.paymentRequired(w, r, reqs, res, string(sr.ErrorReason), sr, pay.Version)
		return false
	}
	// Settled, or broadcast and pending (the facilitator settles it at most
	// once and will confirm it): serve.
	if err := setSettlementHeader(buf.header, pay.Version, sr); err != nil {
		m.log.Error("encoding PAYMENT-RESPONSE", "err", err)
	}
	buf.flushTo(w)
	return !sr.Success
}

// serveThenSettle serves right after verification and queues the
// settlement durably once the handler commits to a successful status.
//
// It reports whether the payment must stay claimed: once queued, until its
// authorization expires.
func (m *Middleware) serveThenSettle(w http.ResponseWriter, r *http.Request, next http.Handler, pay *Payment) bool {
	sw := &streamWriter{ResponseWriter: w}
	queued := false
	sw.onHeader = func(status int) {
		if status >= 300 {
			return // failures and redirects are not charged
		}
		if err := m.cfg.Queue.Enqueue(context.WithoutCancel(r.Context()), pay.Request); err != nil {
			// Nothing may be served unpaid: answer 503 instead of the
			// handler's response.
			m.log.Error("queueing settlement failed; refusing to serve", "payer", pay.Payer, "err", err)
			sw.fail(http.StatusServiceUnavailable)
			return
		}
		queued = true
	}
	next.ServeHTTP(sw, r)
	if !sw.wroteHeader {
		sw.WriteHeader(http.StatusOK)
	}
	return queued
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":"encoding response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
