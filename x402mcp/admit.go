package x402mcp

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/go402/go402/x402"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serveAdmitted sells a call paid with a scheme that keeps state across
// calls ([x402.ChargeAdmitter], such as batch-settlement): the scheme
// decides on the payment and reserves its charge; the charge is committed
// when the tool result is not an error, and aborted otherwise (also when
// the handler panics). Replay protection is the scheme's.
func (s *Server) serveAdmitted(ctx context.Context, req *mcp.CallToolRequest, next mcp.ToolHandler, a x402.ChargeAdmitter, c *candidate, off *offer) (*mcp.CallToolResult, error) {
	adm, err := a.Admit(ctx, c.pay)
	switch {
	case err != nil || adm == nil:
		s.log.Error("admitting the payment failed", "scheme", c.req.Scheme, "err", err)
		return errorResult("x402mcp: the payment could not be processed"), nil
	case adm.Done != nil:
		return operationResult(adm.Done, off)
	case adm.Refused != nil || adm.Charge == nil:
		return s.refused(adm, c, off)
	}
	pending := adm.Charge
	finished := false
	defer func() {
		if !finished {
			s.abort(ctx, pending) // the handler panicked
		}
	}()
	hctx := context.WithValue(ctx, paymentKey{}, &Payment{Payer: adm.Payer, Requirements: c.req, Request: c.freq})
	out, err := next(hctx, req)
	finished = true
	if err != nil || out == nil || out.IsError || out.InputRequests != nil {
		// An error, or not a result yet (the call comes back with the
		// client's input and the same payment, admitted again).
		s.abort(ctx, pending)
		return out, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	sr, err := pending.Commit(cctx)
	if err == nil && sr == nil {
		err = errNoResponse
	}
	if err != nil {
		s.log.Error("committing the charge failed; result withheld", "payer", adm.Payer, "err", err)
		return errorResult("x402mcp: the payment could not be processed"), nil
	}
	if !sr.Success {
		s.log.Info("charge not committed; result withheld", "payer", adm.Payer, "reason", sr.ErrorReason)
		return requiredResult(off, string(sr.ErrorReason), sr)
	}
	return withReceipt(out, sr), nil
}

// abort releases a pending charge that is not charged.
func (s *Server) abort(ctx context.Context, p x402.PendingCharge) {
	if err := p.Abort(context.WithoutCancel(ctx)); err != nil {
		s.log.Warn("releasing a pending charge failed", "err", err)
	}
}

// refused answers a payment the scheme's server refused: payment required
// with its reason and, for a corrective answer, the corrected requirements
// in place of those the payment accepted.
func (s *Server) refused(adm *x402.Admission, c *candidate, off *offer) (*mcp.CallToolResult, error) {
	msg := "payment invalid"
	if adm.Refused != nil && adm.Refused.InvalidReason != "" {
		msg = string(adm.Refused.InvalidReason)
	}
	if adm.Corrected != nil {
		own := *off
		own.reqs = slices.Clone(off.reqs)
		for i := range own.reqs {
			if requirementsEqual(&own.reqs[i], &c.req) {
				own.reqs[i] = *adm.Corrected
			}
		}
		off = &own
	}
	return requiredResult(off, msg, nil)
}

// operationResult answers a payload that was an operation of the scheme
// (a refund, say) rather than a payment for the call.
func operationResult(op *x402.Operation, off *offer) (*mcp.CallToolResult, error) {
	if op.Response == nil || !op.Response.Success {
		msg := "payment operation failed"
		if op.Response != nil && op.Response.ErrorReason != "" {
			msg = string(op.Response.ErrorReason)
		}
		return requiredResult(off, msg, op.Response)
	}
	body := []byte(op.Body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	res := &mcp.CallToolResult{StructuredContent: json.RawMessage(body), Content: []mcp.Content{&mcp.TextContent{Text: string(body)}}}
	return withReceipt(res, op.Response), nil
}
