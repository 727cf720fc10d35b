package x402http

import (
	"context"
	"errors"
	"time"

	"github.com/go402/go402/x402"
)

// RunSettlements settles the payments queued by ServeThenSettle routes until
// ctx ends; run it in a goroutine beside the server. Settlements queued
// before a restart are settled when it runs again. A settlement that fails
// for a reason a retry can fix (the facilitator unreachable, or pending
// confirmation) is retried by the queue; a rejected one is logged, since the
// response was already served. Once a settlement is settled or given up,
// its payer's unsettled-payment hold ends (see "Unsettled payments" in the
// package documentation): run it on the middleware serving the routes, or
// on one built with the same Claims and Schemes.
func (m *Middleware) RunSettlements(ctx context.Context) error {
	if m.cfg.Queue == nil {
		return errors.New("x402http: no Queue configured")
	}
	for {
		id, req, err := m.cfg.Queue.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log.Error("reading settlement queue", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		resp, err := m.cfg.Facilitator.Settle(ctx, req)
		retry := false
		switch {
		case err != nil:
			retry = true
			m.log.Warn("queued settlement: facilitator unavailable; will retry", "err", err)
		case resp.Success:
			// The payment's claims stay until they expire: the queue's row
			// keeps refusing copies of it.
			m.log.Info("queued settlement settled", "payer", resp.Payer, "tx", resp.Transaction)
		case resp.ErrorReason == x402.ReasonSettlementPending:
			retry = true
		default:
			m.log.Warn("queued settlement rejected after serving", "payer", resp.Payer, "reason", resp.ErrorReason, "message", resp.ErrorMessage)
		}
		if err := m.cfg.Queue.Done(context.WithoutCancel(ctx), id, resp, retry); err != nil {
			m.log.Error("recording queued settlement outcome", "id", id, "err", err)
		}
		if !retry {
			m.settled(req)
		}
	}
}
