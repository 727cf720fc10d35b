package facilitator

import (
	"context"
	"errors"
	"fmt"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// Verify checks a payment without moving funds.
func (f *Facilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	start := f.cfg.Now()
	s, p, rej := f.resolve(req)
	var resp *x402.VerifyResponse
	var err error
	switch {
	case rej != nil:
		resp = &x402.VerifyResponse{InvalidReason: rej.Reason, InvalidMessage: rej.Message}
	default:
		resp, err = f.verifyAgainstLedger(ctx, s, p)
	}
	ev := f.event(ledger.EventVerify, req, p)
	switch {
	case err != nil:
		ev.Status, ev.Message = "error", err.Error()
	case resp.IsValid:
		ev.Status, ev.Payer = "valid", resp.Payer
	default:
		ev.Status, ev.Payer, ev.Reason, ev.Message = "invalid", resp.Payer, resp.InvalidReason, resp.InvalidMessage
	}
	f.record(ctx, ev)
	f.log.Debug("verify", "status", ev.Status, "reason", ev.Reason, "network", ev.Network, "payer", ev.Payer, "elapsed", f.cfg.Now().Sub(start))
	return resp, err
}

// verifyAgainstLedger runs the scheme's verify, and refuses an
// authorization whose settlement is under way: until it is mined the chain
// still shows it unused, and serving it twice would give away a resource.
// A settlement left unfinished (abandoned by its owner, or pending on a
// transaction since mined or dropped) is first checked with the chain.
func (f *Facilitator) verifyAgainstLedger(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment) (*x402.VerifyResponse, error) {
	if id, ok := s.(x402.Identifier); ok {
		if key, _, err := id.Identify(p); err == nil {
			rec, err := f.cfg.Store.Get(ctx, key)
			// Only an abandoned claim or a dropped transaction can turn the
			// answer into "valid": a pending one still being mined is left
			// to the reconciler, so replayed verifies cost no chain reads.
			if err == nil && f.flight(key) == nil && f.mayBeFree(rec) {
				if f.repair(ctx, rec, "checked by a verify") != repairUnchanged {
					rec, err = f.cfg.Store.Get(ctx, key)
				}
			}
			switch {
			case err == nil && !rec.Status.Final():
				return &x402.VerifyResponse{Payer: payerOf(rec.Response), InvalidReason: x402.ReasonDuplicateSettlement,
					InvalidMessage: "this authorization is already being settled"}, nil
			case err != nil && !errors.Is(err, ledger.ErrNotFound):
				return nil, fmt.Errorf("facilitator: reading ledger: %w", err)
			}
		}
	}
	return s.Verify(ctx, p)
}
