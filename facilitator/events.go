package facilitator

import (
	"context"

	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

func (f *Facilitator) event(kind ledger.EventKind, req *x402.FacilitatorRequest, p *x402.Payment) *ledger.Event {
	ev := &ledger.Event{Time: f.cfg.Now(), Kind: kind, Version: req.X402Version, Scheme: req.Scheme(), Network: req.Network()}
	if p != nil {
		ev.Network, ev.Asset, ev.PayTo, ev.Amount = p.Requirements.Network, p.Requirements.Asset, p.Requirements.PayTo, p.Requirements.Amount.String()
		if p.Resource != nil {
			ev.Resource = p.Resource.URL
		}
	}
	return ev
}

func (f *Facilitator) recordSettle(ctx context.Context, req *x402.FacilitatorRequest, p *x402.Payment, resp *x402.SettleResponse, err error) {
	ev := f.event(ledger.EventSettle, req, p)
	if err != nil {
		ev.Status, ev.Message = "error", err.Error()
	} else {
		ev.Status, ev.Payer, ev.TxHash, ev.Reason, ev.Message = settleStatus(resp), resp.Payer, resp.Transaction, resp.ErrorReason, resp.ErrorMessage
	}
	f.record(ctx, ev)
	f.log.Info("settle", "status", ev.Status, "reason", ev.Reason, "network", ev.Network, "payer", ev.Payer, "tx", ev.TxHash, "amount", ev.Amount)
}

func settleStatus(r *x402.SettleResponse) string {
	switch {
	case r.Success:
		return "settled"
	case r.ErrorReason == x402.ReasonSettlementPending:
		return "pending"
	case r.Transaction != "":
		return "failed"
	}
	return "rejected"
}

// record appends an event; a ledger failure is logged, not returned, because
// the verdict it records has already been reached. The event's message
// shows URLs without their path or query (see redact.Text): it may quote a
// chain error, and with it an RPC key.
func (f *Facilitator) record(ctx context.Context, ev *ledger.Event) {
	ev.Message = redact.Text(ev.Message)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	if err := f.cfg.Store.Record(ctx, ev); err != nil {
		f.log.Error("recording ledger event", "kind", ev.Kind, "err", err)
	}
}
