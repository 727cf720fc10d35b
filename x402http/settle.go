package x402http

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go402/go402/x402"
)

// charged reports whether the route charges an answer with the handler's
// final status: by its Charge func, else a success, a redirect or 304 Not
// Modified (200 to 399). A handler error (400 or more) is not charged by
// default.
func (c *compiledRoute) charged(status int) bool {
	if c.Charge != nil {
		return c.Charge(status)
	}
	return status >= 200 && status <= 399
}

// settleBeforeServe buffers the handler's response and releases it only
// after the payment settled.
func (m *Middleware) settleBeforeServe(w http.ResponseWriter, r *http.Request, next http.Handler, route *compiledRoute, pay *Payment, ans *staticAnswer, res *x402.ResourceInfo) payOutcome {
	buf := newBufferedWriter(m.cfg.MaxBufferBytes, w.Header())
	next.ServeHTTP(buf, r)
	if buf.overflow {
		m.log.Error("response too large to buffer; not charged", "limit", m.cfg.MaxBufferBytes)
		writeJSON(w, http.StatusInternalServerError, "response too large")
		return notCharged
	}
	if !route.charged(buf.statusCode()) {
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
	m.countSettled(routeOf(r), pay.Request, sr)
	return settled
}

// settleMargin is how long a serve-then-settle payment must stay valid
// beyond the start of its response, for the queue to settle it.
const settleMargin = 30 * time.Second

// settleable reports whether a payment expiring at expires (zero: the
// payload does not say) can still be settled after serving.
func (m *Middleware) settleable(expires time.Time) bool {
	return expires.IsZero() || m.cfg.Now().Add(settleMargin).Before(expires)
}

// serveThenSettle serves right after verification and queues the
// settlement durably once the handler commits to a charged status. It
// records in *out what became of the payment as soon as it is known, so
// that a handler that panics after its answer started leaves it right.
func (m *Middleware) serveThenSettle(w http.ResponseWriter, r *http.Request, next http.Handler, route *compiledRoute, v *verified, out *payOutcome) {
	pay, expires, key := v.pay, v.expires, v.key
	sw := &streamWriter{ResponseWriter: w, base: w.Header().Clone()}
	// The queue must still be able to settle the payment after the
	// response: the facilitator refuses an authorization with only seconds
	// left, so one that expires within settleMargin is refused before it
	// is verified (serve), here if verifying took that long, and again if
	// the handler did.
	settleable := func() bool { return m.settleable(expires) }
	if !settleable() {
		m.log.Info("payment expires too soon to be settled after serving; refusing", "payer", pay.Payer, "expires", expires)
		sw.fail(http.StatusPaymentRequired, "payment expires too soon to be settled")
		*out = unused
		return
	}
	*out = notCharged // from here on the handler runs
	sw.onHeader = func(status int) {
		h := w.Header()
		m.decorate(h, r)
		keepPrivate(h)
		if !route.charged(status) {
			return // not charged: nothing to settle
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
			*out = inFlight
		}
	}
	next.ServeHTTP(sw, r)
	if !sw.wroteHeader {
		sw.WriteHeader(http.StatusOK)
	}
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
