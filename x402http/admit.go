package x402http

import (
	"context"
	"net/http"
	"slices"

	"github.com/go402/go402/x402"
)

// serveAdmitted serves a payment whose scheme server keeps state across
// requests ([x402.ChargeAdmitter]): the scheme decides on the payment and
// reserves its charge; the handler's answer is held back until the charge
// is committed, so that nothing is served unpaid, and a handler failure
// charges nothing. The route's Policy does not apply: the scheme's state,
// not the facilitator, stands between a payment and a second response.
func (m *Middleware) serveAdmitted(w http.ResponseWriter, r *http.Request, next http.Handler, route *compiledRoute, a x402.ChargeAdmitter, c *candidate, ans *staticAnswer, res *x402.ResourceInfo) {
	adm, err := a.Admit(r.Context(), c.pay)
	switch {
	case err != nil:
		m.log.Error("admitting the payment failed", "scheme", c.req.Scheme, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, "payment could not be processed")
		return
	case adm == nil:
		m.log.Error("admitting the payment gave no decision", "scheme", c.req.Scheme)
		writeJSON(w, http.StatusServiceUnavailable, "payment could not be processed")
		return
	case adm.Done != nil:
		m.operation(w, r, adm.Done, c, ans, res)
		return
	case adm.Refused != nil || adm.Charge == nil:
		m.refused(w, r, adm, c, ans, res)
		return
	}
	pending := adm.Charge
	if m.limitPayer(w, route, adm.Payer) { // ratelimit.go
		m.abort(r, pending)
		return
	}
	finished := false
	defer func() {
		if !finished {
			// The handler panicked: nothing is charged.
			m.abort(r, pending)
		}
	}()
	pay := &Payment{Version: c.freq.X402Version, Payer: adm.Payer, Requirements: c.req, Request: c.freq}
	r = r.WithContext(context.WithValue(r.Context(), paymentKey{}, pay))
	buf := newBufferedWriter(m.cfg.MaxBufferBytes, w.Header())
	next.ServeHTTP(buf, r)
	finished = true
	m.countPaid(r)
	if buf.overflow {
		m.abort(r, pending)
		m.log.Error("response too large to buffer; not charged", "limit", m.cfg.MaxBufferBytes)
		writeJSON(w, http.StatusInternalServerError, "response too large")
		return
	}
	if !route.charged(buf.statusCode()) {
		m.abort(r, pending)
		buf.copyHeader(w)
		m.decorate(w.Header(), r)
		keepPrivate(w.Header())
		buf.flushTo(w)
		return
	}
	// The commit outlives a client that disconnects meanwhile.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), settleTimeout)
	defer cancel()
	sr, err := pending.Commit(cctx)
	if err != nil {
		m.log.Error("committing the charge failed; answer withheld", "payer", adm.Payer, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, "payment could not be processed")
		return
	}
	if !sr.Success {
		m.log.Info("charge not committed; answer withheld", "payer", adm.Payer, "reason", sr.ErrorReason, "message", sr.ErrorMessage)
		m.paymentRequired(w, r, ans, res, string(sr.ErrorReason), sr, pay.Version)
		return
	}
	m.countSettled(routeOf(r), c.freq, sr)
	buf.copyHeader(w)
	h := w.Header()
	m.decorate(h, r)
	keepPrivate(h)
	if err := setSettlementHeader(h, pay.Version, sr); err != nil {
		m.log.Error("encoding PAYMENT-RESPONSE", "err", err)
	}
	buf.flushTo(w)
}

// abort releases a pending charge whose answer is not charged.
func (m *Middleware) abort(r *http.Request, p x402.PendingCharge) {
	if err := p.Abort(context.WithoutCancel(r.Context())); err != nil {
		m.log.Warn("releasing a pending charge failed", "err", err)
	}
}

// refused answers a payment the scheme's server refused: 402 with its
// reason and, for a corrective 402, the corrected requirements in place of
// those the payment accepted.
func (m *Middleware) refused(w http.ResponseWriter, r *http.Request, adm *x402.Admission, c *candidate, ans *staticAnswer, res *x402.ResourceInfo) {
	msg := "payment invalid"
	if adm.Refused != nil {
		if adm.Refused.InvalidReason != "" {
			msg = string(adm.Refused.InvalidReason)
		}
		m.log.Info("payment refused", "reason", adm.Refused.InvalidReason, "message", adm.Refused.InvalidMessage, "payer", adm.Payer)
	}
	if adm.Corrected != nil {
		reqs := slices.Clone(ans.reqs)
		for i := range reqs {
			if requirementsEqual(&reqs[i], &c.req) {
				reqs[i] = *adm.Corrected
			}
		}
		if own, err := newAnswer(reqs, res.Description, res.MimeType, ans.extensions); err == nil {
			ans = own
		} else {
			m.log.Error("corrected requirements are invalid; sending the route's", "err", err)
		}
	}
	m.paymentRequired(w, r, ans, res, msg, nil, c.freq.X402Version)
}

// operation answers a payload that was an operation of the scheme.
func (m *Middleware) operation(w http.ResponseWriter, r *http.Request, op *x402.Operation, c *candidate, ans *staticAnswer, res *x402.ResourceInfo) {
	if op.Response == nil || !op.Response.Success {
		msg := "payment operation failed"
		if op.Response != nil && op.Response.ErrorReason != "" {
			msg = string(op.Response.ErrorReason)
		}
		m.paymentRequired(w, r, ans, res, msg, op.Response, c.freq.X402Version)
		return
	}
	h := w.Header()
	m.decorate(h, r)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	if err := setSettlementHeader(h, c.freq.X402Version, op.Response); err != nil {
		m.log.Error("encoding PAYMENT-RESPONSE", "err", err)
	}
	w.WriteHeader(http.StatusOK)
	body := []byte(op.Body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	_, _ = w.Write(append(body, '\n'))
}
