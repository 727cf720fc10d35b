package x402mcp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go402/go402/x402"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Payment is the verified payment of a tool call, in its handler's context
// (see [PaymentFromContext]).
type Payment struct {
	// Payer is the paying address, as the facilitator or scheme named it.
	Payer string
	// Requirements is the option the payment accepted.
	Requirements x402.PaymentRequirements
	// Request is what the facilitator is asked to settle.
	Request *x402.FacilitatorRequest
}

type paymentKey struct{}

// PaymentFromContext returns the payment of the tool call whose handler
// runs with ctx.
func PaymentFromContext(ctx context.Context) (*Payment, bool) {
	p, ok := ctx.Value(paymentKey{}).(*Payment)
	return p, ok
}

// usage is what a handler reported with ReportUsage.
type usage struct {
	mu       sync.Mutex
	amount   x402.Amount
	reported bool
}

type usageKey struct{}

// ErrNotMetered is returned by [ReportUsage] outside the handler of a call
// paid with a metered scheme.
var ErrNotMetered = errors.New("x402mcp: the call is not paid with a metered scheme")

// ReportUsage tells the server what the tool call whose handler runs with
// ctx used, in atomic units of the paid asset, when it is paid with a
// metered scheme ([x402.MeteredScheme], such as "upto"): that amount is
// settled instead of the authorized maximum. More than the maximum is
// settled as the maximum. The last report counts.
func ReportUsage(ctx context.Context, used x402.Amount) error {
	u, ok := ctx.Value(usageKey{}).(*usage)
	if !ok {
		return ErrNotMetered
	}
	u.mu.Lock()
	u.amount, u.reported = used, true
	u.mu.Unlock()
	return nil
}

// candidate is the option a payment pays, the facilitator request that
// pays it, and what the scheme's server read of it.
type candidate struct {
	req  x402.PaymentRequirements
	freq *x402.FacilitatorRequest
	pay  *x402.Payment
	srv  x402.SchemeServer
	id   x402.PaymentID
}

// serve sells one call of t: price, read the payment, claim and verify it,
// run next, then settle unless the result is an error.
func (s *Server) serve(ctx context.Context, t *paidTool, req *mcp.CallToolRequest, next mcp.ToolHandler) (res *mcp.CallToolResult, rerr error) {
	off, err := s.offerFor(ctx, t, req)
	if err != nil {
		s.log.Info("pricing the call failed", "tool", t.name, "err", err)
		return errorResult("x402mcp: the call could not be priced: " + err.Error()), nil
	}
	if off == nil {
		return next(ctx, req) // free
	}
	var meta mcp.Meta
	if req.Params != nil {
		meta = req.Params.Meta
	}
	pp, err := paymentFromMeta(meta)
	switch {
	case err != nil:
		return requiredResult(off, invalidPayload(err), nil)
	case pp == nil:
		return requiredResult(off, "Payment required", nil)
	}
	idKey, answer, err := s.idemBegin(t, pp, off) // see idempotency.go
	if answer != nil || err != nil {
		return answer, err
	}
	ran := false
	if idKey != "" {
		defer func() {
			if !ran || rerr != nil || res == nil || res.InputRequests != nil {
				s.idemFinish(idKey, nil) // not used, or not finished: forget
				return
			}
			s.idemFinish(idKey, res)
		}()
	}
	c, msg := s.match(pp, off)
	if c == nil {
		return requiredResult(off, msg, nil)
	}
	req = withoutPayment(req)
	if a, ok := c.srv.(x402.ChargeAdmitter); ok {
		return s.serveAdmitted(ctx, req, next, a, c, off)
	}
	cl, resumed := s.suspended.resume(c.id.Key.String(), s.cfg.Now())
	if !resumed {
		var answer *mcp.CallToolResult
		if cl, answer, err = s.verify(ctx, c, off); answer != nil || err != nil {
			return answer, err
		}
	}
	// From here the handler runs: the claim stays until the authorization
	// expires, charged or not.
	u := &usage{}
	hctx := context.WithValue(ctx, paymentKey{}, &Payment{Payer: cl.payer, Requirements: c.req, Request: c.freq})
	if _, ok := c.srv.(x402.MeteredScheme); ok {
		hctx = context.WithValue(hctx, usageKey{}, u)
	}
	ran = true
	out, err := next(hctx, req)
	if err != nil || out == nil || out.IsError {
		// A protocol error or a tool error result: nothing is settled.
		return out, err
	}
	if out.InputRequests != nil {
		// Not a result yet: the tool asks the client for input, and the
		// call comes back with the answers and the same payment, which
		// then continues without being verified again.
		s.suspended.suspend(cl, c.id.Expires, s.cfg.Now().Add(time.Duration(c.req.MaxTimeoutSeconds)*time.Second))
		return out, nil
	}
	return s.settle(ctx, c, cl.payer, off, out, u)
}

// withoutPayment returns req without the payment in its _meta: the
// handler sees the call, not the payer's bearer instrument.
func withoutPayment(req *mcp.CallToolRequest) *mcp.CallToolRequest {
	if req.Params == nil || req.Params.Meta == nil {
		return req
	}
	r := *req
	p := *req.Params
	p.Meta = make(mcp.Meta, len(req.Params.Meta))
	for k, v := range req.Params.Meta {
		if k != MetaPayment {
			p.Meta[k] = v
		}
	}
	r.Params = &p
	return &r
}

// match pairs the payment with the option it accepted, compared field by
// field, and has the scheme's server read it. The facilitator request is
// built from the server's own requirements and resource. The message is
// for the payment-required result when there is no candidate.
func (s *Server) match(pp *x402.PaymentPayload, off *offer) (*candidate, string) {
	for i := range off.reqs {
		if !requirementsEqual(&pp.Accepted, &off.reqs[i]) {
			continue
		}
		c := &candidate{req: off.reqs[i]}
		c.req.Extra = slices.Clone(c.req.Extra)
		payload := *pp
		res := off.res
		payload.Resource = &res
		c.freq = x402.NewFacilitatorRequest(&payload, &c.req)
		srv, _, err := s.cfg.Schemes.Lookup(x402.V2, c.req.Scheme, c.req.Network)
		if err != nil {
			return nil, invalidPayload(err)
		}
		if c.pay, err = c.freq.Payment(); err != nil {
			return nil, invalidPayload(err)
		}
		c.srv = srv
		if c.id, err = srv.Identify(c.pay); err != nil {
			return nil, invalidPayload(err)
		}
		return c, ""
	}
	return nil, "No matching payment requirements"
}

// invalidPayload is the message for a payload that could not be read: its
// reason code when it has one.
func invalidPayload(err error) string {
	var xe *x402.Error
	if errors.As(err, &xe) && xe.Reason != "" {
		return string(xe.Reason)
	}
	return "invalid payment payload: " + err.Error()
}

// claim is a verified payment's claim.
type claim struct {
	key   string
	payer string
}

// suspensions are the claims of calls waiting for the client's input, by
// key, each until its authorization expires (or the tool's timeout).
type suspensions struct {
	mu    sync.Mutex
	until map[string]time.Time
	claim map[string]*claim
}

// suspend keeps cl for the call's continuation.
func (s *suspensions) suspend(cl *claim, expires, timeout time.Time) {
	until := timeout
	if !expires.IsZero() && expires.Before(until) {
		until = expires
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claim == nil {
		s.claim, s.until = map[string]*claim{}, map[string]time.Time{}
	}
	s.claim[cl.key], s.until[cl.key] = cl, until
}

// resume takes the suspended claim of key, if there is one still valid:
// one continuation per suspension.
func (s *suspensions) resume(key string, now time.Time) (*claim, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.until {
		if now.After(t) {
			delete(s.until, k)
			delete(s.claim, k)
		}
	}
	cl, ok := s.claim[key]
	delete(s.claim, key)
	delete(s.until, key)
	return cl, ok
}

// verify claims the payment, then has it verified. One payment, one
// result: the authorization is claimed before it is verified, so that
// parallel copies are refused while the first is served. A non-nil result
// answers the call; the claim is then released unless it was a copy.
func (s *Server) verify(ctx context.Context, c *candidate, off *offer) (*claim, *mcp.CallToolResult, error) {
	now := s.cfg.Now()
	timeout := time.Duration(c.req.MaxTimeoutSeconds) * time.Second
	until := now.Add(timeout)
	if c.id.Expires.After(until) {
		// As long as the authorization is valid, but no more than
		// claimSlack beyond the tool's timeout.
		until = c.id.Expires
		if limit := now.Add(timeout + claimSlack); until.After(limit) {
			until = limit
		}
	}
	cl := &claim{key: c.id.Key.String()}
	if !s.claims.Claim(cl.key, until, now) {
		res, err := requiredResult(off, "payment already used for another request", nil)
		return nil, res, err
	}
	vr, err := s.verifyOne(ctx, c)
	if err != nil {
		s.claims.Release(cl.key)
		s.log.Error("facilitator verify failed", "err", err)
		return nil, errorResult("x402mcp: the payment could not be verified: facilitator unavailable"), nil
	}
	if !vr.IsValid {
		s.claims.Release(cl.key)
		s.log.Info("payment invalid", "reason", vr.InvalidReason, "message", vr.InvalidMessage, "payer", vr.Payer)
		msg := string(vr.InvalidReason)
		if msg == "" {
			msg = "payment invalid"
		}
		res, err := requiredResult(off, msg, nil)
		return nil, res, err
	}
	cl.payer = vr.Payer
	if s.cfg.Claims == nil {
		return cl, nil, nil
	}
	switch err := s.cfg.Claims.Claim(ctx, cl.key, until); {
	case err == nil:
		return cl, nil, nil
	case s.cfg.IsDuplicate(err):
		// Used before, by another server or before a restart. The
		// in-process claim stays.
		s.log.Info("payment already used", "payer", vr.Payer)
		res, err := requiredResult(off, "payment already used for another request", nil)
		return nil, res, err
	default:
		s.claims.Release(cl.key)
		s.log.Error("claiming the payment durably failed; refusing the call", "payer", vr.Payer, "err", err)
		return nil, errorResult("x402mcp: the payment could not be processed"), nil
	}
}

// verifyOne asks the scheme's server for a verdict where it can give one,
// else the facilitator.
func (s *Server) verifyOne(ctx context.Context, c *candidate) (*x402.VerifyResponse, error) {
	if lv, ok := c.srv.(x402.LocalVerifier); ok {
		vr, err := lv.VerifyLocal(ctx, c.pay)
		if err != nil || vr != nil {
			return vr, err
		}
	}
	vr, err := s.cfg.Facilitator.Verify(ctx, c.freq)
	if err == nil && vr == nil {
		err = errors.New("no verdict")
	}
	return vr, err
}

// settle settles the payment of a call whose result is not an error and
// attaches the receipt; a failed settlement withholds the tool's output.
func (s *Server) settle(ctx context.Context, c *candidate, payer string, off *offer, out *mcp.CallToolResult, u *usage) (*mcp.CallToolResult, error) {
	freq, err := s.settlementRequest(c, u)
	if err != nil {
		s.log.Error("settling the used amount is impossible; result withheld", "payer", payer, "err", err)
		return errorResult("x402mcp: the payment could not be processed"), nil
	}
	// The settlement outlives a client that went away meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	sr, err := s.cfg.Facilitator.Settle(sctx, freq)
	if err == nil && sr == nil {
		err = errors.New("no settle response")
	}
	if err != nil {
		s.log.Error("facilitator settle failed; result withheld", "payer", payer, "err", err)
		return errorResult("x402mcp: the payment could not be settled: facilitator unavailable"), nil
	}
	if !sr.Success && sr.ErrorReason != x402.ReasonSettlementPending {
		s.log.Info("settlement failed; result withheld", "payer", payer, "reason", sr.ErrorReason, "message", sr.ErrorMessage)
		return requiredResult(off, string(sr.ErrorReason), sr)
	}
	// Settled, or broadcast and pending (the facilitator settles it at
	// most once): the result goes out with the receipt.
	return withReceipt(out, sr), nil
}

// settlementRequest is what to settle: the payment as accepted or, for a
// metered scheme whose handler reported usage, the amount used (at most
// the authorized amount).
func (s *Server) settlementRequest(c *candidate, u *usage) (*x402.FacilitatorRequest, error) {
	ms, ok := c.srv.(x402.MeteredScheme)
	if !ok {
		return c.freq, nil
	}
	u.mu.Lock()
	used, reported := u.amount, u.reported
	u.mu.Unlock()
	if !reported {
		return c.freq, nil
	}
	if used.Cmp(c.req.Amount) > 0 {
		s.log.Warn("the tool reported more usage than the payment authorized; settling the authorized amount", "used", used.String(), "authorized", c.req.Amount.String())
		used = c.req.Amount
	}
	r, err := ms.UsageRequirements(c.req, used)
	if err != nil {
		return nil, fmt.Errorf("usage requirements: %w", err)
	}
	return x402.NewFacilitatorRequest(c.freq.Payload, &r), nil
}
