package x402http

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go402/go402/x402"
)

// unitAmounts resolves the unit price of each of route r's options: the
// option's UnitAmount, else the route's UnitPrice priced by the option's
// scheme server; nil when the route has neither.
func unitAmounts(cfg *Config, r Route) ([]x402.Amount, error) {
	var units []x402.Amount
	var price *x402.Price
	if r.UnitPrice != "" {
		p, err := x402.ParsePrice(r.UnitPrice)
		if err != nil {
			return nil, fmt.Errorf("unit price: %w", err)
		}
		price = &p
	}
	for j, o := range r.Accepts {
		u := o.UnitAmount
		if u.IsZero() && price != nil {
			srv, _, err := cfg.Schemes.Lookup(x402.V2, optionScheme(&o), o.Network)
			if err != nil {
				return nil, fmt.Errorf("option %d: %w", j, err)
			}
			req, err := srv.Requirements(o.Network, *price, o.PayTo, DefaultMaxTimeoutSeconds)
			if err != nil {
				return nil, fmt.Errorf("option %d: unit price: %w", j, err)
			}
			if u = req.Amount; u.IsZero() {
				return nil, fmt.Errorf("option %d: unit price %q is zero in the option's asset", j, r.UnitPrice)
			}
		}
		if !u.IsZero() && units == nil {
			units = make([]x402.Amount, len(r.Accepts))
		}
		if units != nil {
			units[j] = u
		}
	}
	return units, nil
}

// unit is the unit price of option i of the route (zero if none).
func (c *compiledRoute) unit(i int) x402.Amount {
	if i < 0 || i >= len(c.units) {
		return x402.Amount{}
	}
	return c.units[i]
}

// serveMetered serves a payment whose scheme authorizes a maximum and
// settles what was used ([x402.MeteredScheme]): the payment was verified
// (and, by a facilitator that reserves funds, reserved); the handler runs
// with a meter ([Charge], [Use]); once it returned, the middleware settles
// the charge, capped at the maximum. A SettleBeforeServe route settles in
// the request: the answer is held back until then (receipt in
// PAYMENT-RESPONSE; a refused settlement withholds it, as before), unless
// the handler streams, in which case the answer goes out as written and
// the receipt follows as a trailer. A ServeThenSettle route streams and
// queues the settlement of the charge once the handler returned.
func (m *Middleware) serveMetered(w http.ResponseWriter, r *http.Request, next http.Handler, route *compiledRoute, v *verified, ms x402.MeteredScheme, ans *staticAnswer, res *x402.ResourceInfo, out *payOutcome) {
	pay := v.pay
	mt := &meter{max: pay.Requirements.Amount, unit: route.unit(v.opt)}
	r = r.WithContext(context.WithValue(r.Context(), meterKey{}, mt))
	queued := route.Policy == ServeThenSettle
	prepare := func(h http.Header) {
		m.decorate(h, r)
		keepPrivate(h)
		// Only the middleware reports the settlement.
		h.Del(x402.HeaderPaymentResponse)
		h.Del(x402.HeaderXPaymentResponse)
	}
	mw := newMeterWriter(w, m.cfg.MaxBufferBytes, queued, func(h http.Header, status int) {
		prepare(h)
		if !queued && route.charged(status) {
			// The receipt follows the body: a trailer needs a chunked
			// body, so no Content-Length.
			h.Del("Content-Length")
			h.Add("Trailer", receiptHeader(pay.Version))
		}
	})
	*out = notCharged // from here on the handler runs
	next.ServeHTTP(mw, r)
	if !mw.wroteHeader {
		mw.WriteHeader(http.StatusOK)
	}
	used, over := mt.close()
	if over {
		m.log.Error("handler reported more than the payment authorized; charging the maximum", "payer", pay.Payer, "max", mt.max)
	}
	if !route.charged(mw.statusCode()) {
		mw.release(prepare)
		return
	}
	freq, err := usageRequest(ms, pay, used)
	if err != nil {
		m.log.Error("building the settlement of the usage failed; not charged", "payer", pay.Payer, "used", used, "err", err)
		if !mw.streaming {
			writeJSON(w, http.StatusInternalServerError, "payment could not be processed")
		}
		return
	}
	if queued {
		m.enqueueUsage(r, v, freq, used, out)
		return
	}
	m.settleUsage(w, r, mw, prepare, pay, freq, used, ans, res, out)
}

// usageRequest is the facilitator request settling used of pay: the
// payload as the payer sent it, with the scheme's requirements for used.
func usageRequest(ms x402.MeteredScheme, pay *Payment, used x402.Amount) (*x402.FacilitatorRequest, error) {
	if pay.Request == nil || pay.Request.X402Version != x402.V2 || pay.Request.Requirements == nil {
		return nil, errors.New("a metered payment must be x402 v2")
	}
	if used.Cmp(pay.Requirements.Amount) > 0 {
		return nil, fmt.Errorf("usage %s exceeds the maximum %s", used, pay.Requirements.Amount)
	}
	req, err := ms.UsageRequirements(*pay.Request.Requirements, used)
	if err != nil {
		return nil, err
	}
	if req.Amount != used {
		// Never settle anything but the usage, whatever the scheme says.
		return nil, fmt.Errorf("the scheme's requirements for usage %s name amount %s", used, req.Amount)
	}
	return x402.NewFacilitatorRequest(pay.Request.Payload, &req), nil
}

// enqueueUsage queues the settlement of a served metered answer. The
// answer is already out: a queue failure leaves it unpaid, and is logged
// as an error.
func (m *Middleware) enqueueUsage(r *http.Request, v *verified, freq *x402.FacilitatorRequest, used x402.Amount, out *payOutcome) {
	err := m.cfg.Queue.Enqueue(context.WithoutCancel(r.Context()), v.key, freq)
	if err != nil {
		m.log.Error("queueing the settlement of a metered answer failed: it was served unpaid", "payer", v.pay.Payer, "used", used, "err", err)
		return
	}
	*out = inFlight
	m.log.Info("metered answer served; settlement queued", "payer", v.pay.Payer, "used", used, "max", v.pay.Requirements.Amount)
}

// settleUsage settles the charge of a metered answer in the request and
// delivers the answer (if it was held back) with the receipt: in a header
// for a held answer, in the declared trailer for a streamed one. A usage
// of zero is settled too (the facilitator moves nothing, and frees what it
// reserved) and the answer is served whatever the facilitator says: it
// owes nothing.
func (m *Middleware) settleUsage(w http.ResponseWriter, r *http.Request, mw *meterWriter, prepare func(http.Header), pay *Payment, freq *x402.FacilitatorRequest, used x402.Amount, ans *staticAnswer, res *x402.ResourceInfo, out *payOutcome) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), settleTimeout)
	defer cancel()
	sr, err := m.cfg.Facilitator.Settle(sctx, freq)
	if err == nil && sr == nil {
		err = errors.New("the facilitator answered no settlement")
	}
	free := used.IsZero()
	switch {
	case err != nil:
		m.log.Error("facilitator settle failed", "payer", pay.Payer, "used", used, "err", err)
		if free {
			*out = settled // nothing was owed
			mw.release(prepare)
			return
		}
		*out = inFlight // the facilitator may still settle it
		if !mw.streaming {
			writeJSON(w, http.StatusBadGateway, "payment could not be settled: facilitator unavailable")
		}
		return
	case !sr.Success && sr.ErrorReason != x402.ReasonSettlementPending && !free:
		m.log.Info("settlement failed", "payer", pay.Payer, "used", used, "reason", sr.ErrorReason, "message", sr.ErrorMessage)
		if !mw.streaming {
			m.paymentRequired(w, r, ans, res, string(sr.ErrorReason), sr, pay.Version)
			return
		}
		m.log.Error("settlement of a streamed metered answer failed: it was served unpaid", "payer", pay.Payer, "used", used)
	case sr.Success || free:
		*out = settled
	default:
		*out = inFlight
	}
	if sr.Success {
		m.countSettled(routeOf(r), freq, sr)
		m.log.Info("metered answer settled", "payer", pay.Payer, "used", used, "max", pay.Requirements.Amount, "tx", sr.Transaction)
	}
	enc, err := x402.EncodePaymentResponse(sr)
	if err != nil {
		m.log.Error("encoding PAYMENT-RESPONSE", "err", err)
		mw.release(prepare)
		return
	}
	if mw.streaming {
		w.Header().Set(receiptHeader(pay.Version), enc)
		return
	}
	mw.release(func(h http.Header) {
		prepare(h)
		h.Set(receiptHeader(pay.Version), enc)
	})
}

// receiptHeader is the header of the settlement report for a version.
func receiptHeader(version int) string {
	if version == x402.V1 {
		return x402.HeaderXPaymentResponse
	}
	return x402.HeaderPaymentResponse
}
