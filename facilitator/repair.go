package facilitator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// checkChain asks the chain, through rc, what became of rec: an unfinished
// settlement, or a claim of the caller's. It records the answer: a pending
// or final outcome (finish); or, when the authorization is unused and no
// transaction for it is known (x402.ErrNotSettled), it gives the key back,
// a settling claim's at once, a pending settlement's once its transaction
// counts as dropped (until then the stored pending answer is returned). It
// returns the chain's answer, or the error that stood for one, and whether
// the ledger changed.
//
// ctx bounds the question. The writes run on detached, a context not
// cancelled with the caller's (a write cancelled mid-way may still be
// applied, and these are best finished), for at most ledgerWriteTimeout
// from the answer.
func (f *Facilitator) checkChain(ctx, detached context.Context, rc x402.Reconciler, p *x402.Payment, rec *ledger.Settlement) (*x402.SettleResponse, bool, error) {
	resp, err := rc.Reconcile(ctx, p, rec.Key, rec.TxHash)
	if err != nil && !errors.Is(err, x402.ErrNotSettled) {
		return nil, false, err
	}
	wctx, cancel := context.WithTimeout(detached, ledgerWriteTimeout)
	defer cancel()
	switch {
	case err == nil:
		return resp, f.finish(wctx, rec, resp), nil
	case rec.Status == ledger.StatusSettling:
		return nil, f.releaseUnused(wctx, rec), err
	case rec.Status == ledger.StatusPending && f.dropped(rec):
		return nil, f.requeue(wctx, rec), err
	case rec.Status == ledger.StatusPending:
		return storedPending(p, rec), false, nil // perhaps only slow to reach the node
	}
	return nil, false, err
}

// stale reports whether rec, a settling claim, has gone unchanged so long
// that its owner cannot still be at work on it.
func (f *Facilitator) stale(rec *ledger.Settlement) bool {
	return f.cfg.Now().Sub(rec.UpdatedAt) > f.cfg.SettleTimeout+StaleMargin
}

// dropped reports whether rec, a pending settlement whose transaction the
// node does not know, has been pending long enough for the transaction to
// count as dropped rather than slow to reach the node.
func (f *Facilitator) dropped(rec *ledger.Settlement) bool {
	return f.cfg.Now().Sub(rec.UpdatedAt) > f.cfg.SettleTimeout
}

// mayBeFree reports whether rec, an unfinished settlement, may turn out to
// leave its authorization free: a claim abandoned by its owner, or a
// pending one whose transaction may have been dropped.
func (f *Facilitator) mayBeFree(rec *ledger.Settlement) bool {
	switch rec.Status {
	case ledger.StatusSettling:
		return f.stale(rec)
	case ledger.StatusPending:
		return f.dropped(rec)
	}
	return false
}

// due reports whether rec, an unfinished settlement no request of this
// process is working on, is to be checked with the chain: a pending one
// always (its transaction may be mined or dropped), a settling one once it
// is stale, or at start-up when this instance's name owns it.
func (f *Facilitator) due(rec *ledger.Settlement, startup bool) bool {
	switch rec.Status {
	case ledger.StatusPending:
		return true
	case ledger.StatusSettling:
		return (startup && rec.Owner == f.cfg.Instance) || f.stale(rec)
	}
	return false
}

// repairOutcome is what [Facilitator.repair] achieved.
type repairOutcome int

const (
	repairUnchanged  repairOutcome = iota // nothing recorded
	repairProgressed                      // now pending on a known transaction
	repairResolved                        // recorded as final, or released
)

// repair asks the chain what became of rec, an unfinished settlement, and
// records it: settled or failed; pending (for a settling claim whose
// transaction is in the pool); or, when the authorization is unused and no
// transaction for it is known, the claim is released (a pending one only
// once dropped). why says, in the logs, how it was found.
func (f *Facilitator) repair(ctx context.Context, rec *ledger.Settlement, why string) repairOutcome {
	log := f.log.With("payer", rec.Key.Payer, "nonce", rec.Key.Nonce, "network", rec.Key.Network,
		"status", rec.Status, "owner", rec.Owner, "tx", rec.TxHash, "why", why)
	req, err := x402.DecodeFacilitatorRequest(rec.Request)
	if err != nil {
		log.Error("cannot reconcile: stored request undecodable", "err", err)
		return repairUnchanged
	}
	s, p, rej := f.resolve(req)
	if rej != nil {
		log.Error("cannot reconcile: scheme not registered", "reason", rej.Reason)
		return repairUnchanged
	}
	rc, ok := s.(x402.Reconciler)
	if !ok {
		log.Warn("cannot reconcile: the scheme cannot look settlements up on chain")
		return repairUnchanged
	}
	resp, changed, err := f.checkChain(ctx, context.WithoutCancel(ctx), rc, p, rec)
	switch {
	case err != nil && !errors.Is(err, x402.ErrNotSettled):
		log.Warn("reconciling settlement: the chain could not be asked; will try again", "err", err)
		return repairUnchanged
	case !changed:
		return repairUnchanged
	case err != nil: // given back
		if rec.Status == ledger.StatusSettling {
			log.Info("reconciled: settlement was never sent or moved no funds; released")
		}
		return repairResolved
	case resp.ErrorReason == x402.ReasonSettlementPending:
		log.Info("reconciled: settlement transaction is pending")
		return repairProgressed
	}
	ev := f.event(ledger.EventSettle, req, p)
	ev.Payer, ev.TxHash, ev.Status, ev.Reason = resp.Payer, resp.Transaction, settleStatus(resp), resp.ErrorReason
	ev.Message = "reconciled with the chain (" + why + ")"
	f.record(ctx, ev)
	log.Info("reconciled settlement", "result", resp.Transaction, "success", resp.Success, "reason", resp.ErrorReason)
	return repairResolved
}

// Reconcile checks the ledger's unfinished settlements with the chain and
// records what it finds. Run it at start-up, before serving: it repairs at
// once the settlements this instance's name owns (a crash interrupted them;
// no process can be working on them now), and those of any owner that are
// stale, and it looks up every pending one. It returns how many
// settlements it resolved (recorded as final, or released).
func (f *Facilitator) Reconcile(ctx context.Context) (int, error) {
	return f.reconcile(ctx, true)
}

// RunReconciler repairs unfinished settlements every interval (if not
// positive, DefaultReconcileInterval) until ctx ends, then returns. It
// records pending settlements whose transaction was mined, releases those
// whose transaction was dropped, and repairs settlement claims of any
// instance that have not changed for SettleTimeout + StaleMargin: their
// owner crashed, was restarted under another name, or could not write its
// outcome to the ledger. Run it in every instance; instances sharing a
// database do not get in each other's way (every change is a
// compare-and-set).
func (f *Facilitator) RunReconciler(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultReconcileInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := f.reconcile(ctx, false)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			f.log.Error("reconciling unfinished settlements", "err", err)
		case n > 0:
			f.log.Info("reconciled unfinished settlements", "resolved", n)
		}
	}
}

func (f *Facilitator) reconcile(ctx context.Context, startup bool) (int, error) {
	// Reservations of expired authorizations no longer count; delete them.
	if n, err := f.cfg.Store.PurgeReservations(ctx, f.cfg.Now()); err != nil {
		f.log.Warn("purging expired reservations", "err", err)
	} else if n > 0 {
		f.log.Debug("purged expired reservations", "deleted", n)
	}
	recs, err := f.cfg.Store.Unfinished(ctx)
	if err != nil {
		return 0, fmt.Errorf("facilitator: listing unfinished settlements: %w", err)
	}
	why := "found by the reconciler"
	if startup {
		why = "found at start-up"
	}
	n := 0
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return n, fmt.Errorf("facilitator: reconciling: %w", err)
		}
		if f.flight(rec.Key) != nil || !f.due(rec, startup) {
			continue // being settled here, or perhaps by its live owner
		}
		if f.repair(ctx, rec, why) == repairResolved {
			n++
		}
	}
	return n, nil
}
