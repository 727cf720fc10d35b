package client

import (
	"context"

	"github.com/go402/go402/x402"
)

// chargeReader is a scheme client whose payments may be charged less than
// the price (the EVM "upto" scheme: a maximum is authorized, what was used
// is settled). It reads from the chain what a settlement transaction
// transferred under a payload it signed, so that the budget counts what
// was charged on the chain's word, never on the server's.
type chargeReader interface {
	SettledAmount(ctx context.Context, req x402.PaymentRequirements, payload x402.Object, tx string) (x402.Amount, error)
}

// spentCharged settles the budget held for a payment the server reports
// settled: spent at its price, or at less when the scheme reads from the
// chain that the settlement transaction transferred less (and the nonce it
// used can transfer nothing more). Any doubt counts the price.
func (h *payHold) spentCharged(ctx context.Context, sr *x402.SettleResponse) {
	o := h.option
	cr, ok := o.scheme.(chargeReader)
	if !ok || h.id == "" || sr.Amount == nil || sr.Transaction == "" || sr.Amount.Cmp(o.Requirements.Amount) >= 0 || o.channel != nil {
		h.finish(ctx, resolvedSpent)
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chainCheckTimeout)
	defer cancel()
	charged, err := cr.SettledAmount(cctx, o.Requirements, h.payload, sr.Transaction)
	if err != nil || charged.Cmp(o.Requirements.Amount) >= 0 {
		if err != nil {
			h.c.log.DebugContext(ctx, "cannot read what the settlement charged; the price counts", "tx", sr.Transaction, "err", err)
		}
		h.finish(ctx, resolvedSpent)
		return
	}
	less := *o
	less.Requirements.Amount = charged
	if less.priced {
		less.whole = wholeUnits(charged, less.dec)
	}
	amount, _, counted := h.c.policy.charge(&less)
	if !counted {
		h.finish(ctx, resolvedSpent)
		return
	}
	bg := context.WithoutCancel(ctx)
	if h.recorded {
		err = h.c.budget.resolveCharged(bg, h.id, amount)
	} else {
		err = h.c.budget.commitCharged(bg, h.id, amount)
	}
	if err != nil {
		h.c.log.DebugContext(ctx, "updating the budget failed", "err", err)
	}
}
