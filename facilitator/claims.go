package facilitator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// newClaimID returns a random claim id.
func newClaimID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// claim claims rec's key on a context of its own: a claim cancelled with
// the caller's request could be written and still report an error. A
// failed claim is tried again; the claim id tells whether a try whose
// answer was lost was written.
func (f *Facilitator) claim(ctx context.Context, rec *ledger.Settlement) (*ledger.Settlement, bool, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	var existing *ledger.Settlement
	var claimed bool
	err := f.retryLedger(cctx, "claim", func(ctx context.Context) error {
		var err error
		existing, claimed, err = f.cfg.Store.Claim(ctx, rec)
		if err == nil && !claimed && existing != nil && existing.ClaimID == rec.ClaimID {
			// An earlier try was written though its answer was lost.
			existing, claimed = nil, true
		}
		return err
	})
	if err != nil {
		f.abandonClaim(rec)
		return nil, false, fmt.Errorf("facilitator: claiming settlement: %w", err)
	}
	return existing, claimed, nil
}

// abandonClaim deletes rec's claim if a failed Claim wrote it after all:
// nothing was sent under it. If the ledger cannot be reached, the
// reconciler releases the claim once it is stale.
func (f *Facilitator) abandonClaim(rec *ledger.Settlement) {
	ctx, cancel := context.WithTimeout(context.Background(), ledgerWriteTimeout)
	defer cancel()
	err := f.releaseKey(ctx, rec.Key, "", rec.ClaimID)
	if err != nil && !errors.Is(err, ledger.ErrConflict) { // a conflict: another claimant's row
		f.log.Warn("a failed claim may have been written; the reconciler will release it", "payer", rec.Key.Payer, "nonce", rec.Key.Nonce, "err", err)
	}
}

// flight returns this process's settlement in progress for key, if any.
func (f *Facilitator) flight(key x402.SettlementKey) *flight {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flights[key]
}

// await answers a settle of p (fingerprint fp) whose key another request
// claimed: it waits for that claim's outcome, in this process (fl) or in
// the ledger (rec; read when nil), and answers with it when it is this very
// payment, with duplicate_settlement when it is another payment under the
// same key, and with errRetryClaim when the claim was given back. A claim
// abandoned by its owner is checked with the chain rather than waited for.
func (f *Facilitator) await(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, key x402.SettlementKey, fp string, rec *ledger.Settlement, fl *flight) (*x402.SettleResponse, error) {
	var nextRepair time.Time
	for {
		if fl != nil {
			select {
			case <-fl.done:
			case <-ctx.Done():
				return f.gaveUp(key, fp, p, ctx.Err())
			}
			if fl.fingerprint == fp {
				if fl.err != nil {
					return nil, fl.err
				}
				return answerFor(p, fl.resp), nil
			}
			// Another payment under the same key: its outcome is in the
			// ledger.
			fl, rec = nil, nil
		}
		if rec == nil {
			next, err := f.cfg.Store.Get(ctx, key)
			switch {
			case errors.Is(err, ledger.ErrNotFound):
				return nil, errRetryClaim // released without settling: this one may settle
			case err != nil:
				return nil, fmt.Errorf("facilitator: reading ledger: %w", err)
			}
			rec = next
		}
		if rec.Status != ledger.StatusSettling {
			return f.answerRecord(ctx, s, p, fp, rec)
		}
		// Still being settled, here or elsewhere.
		if fl = f.flight(key); fl != nil {
			continue
		}
		if f.stale(rec) && !time.Now().Before(nextRepair) {
			nextRepair = time.Now().Add(repairEvery)
			if f.repair(ctx, rec, "abandoned claim found by a waiting settle") != repairUnchanged {
				rec = nil
				continue
			}
		}
		t := time.NewTimer(f.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return f.gaveUp(key, fp, p, ctx.Err())
		case <-t.C:
		}
		rec = nil
	}
}

// answerRecord answers from a settlement that is past settling.
func (f *Facilitator) answerRecord(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, fp string, rec *ledger.Settlement) (*x402.SettleResponse, error) {
	if rec.Fingerprint != fp {
		return conflict(p, rec), nil
	}
	if rec.Status == ledger.StatusPending {
		return f.refreshPending(ctx, s, p, rec)
	}
	if rec.Response == nil {
		return nil, fmt.Errorf("facilitator: the ledger holds no answer for a %s settlement", rec.Status)
	}
	return answerFor(p, rec.Response), nil
}

// refreshPending asks the chain whether a pending settlement is done. If
// its transaction was dropped, the key is given back (errRetryClaim) so
// that this request settles the payment anew.
func (f *Facilitator) refreshPending(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, rec *ledger.Settlement) (*x402.SettleResponse, error) {
	stored := storedPending(p, rec)
	rc, ok := s.(x402.Reconciler)
	if !ok {
		return stored, nil
	}
	resp, _, err := f.checkChain(ctx, context.WithoutCancel(ctx), rc, p, rec)
	switch {
	case errors.Is(err, x402.ErrNotSettled):
		// Dropped. Whether this request or a concurrent one gave the key
		// back, the settlement has moved on: claim again, or wait for who
		// did.
		return nil, errRetryClaim
	case err != nil:
		f.log.Warn("checking a pending settlement", "tx", rec.TxHash, "err", err)
		return stored, nil
	case resp.ErrorReason == x402.ReasonSettlementPending:
		return stored, nil
	}
	return answerFor(p, resp), nil
}

// storedPending is the answer stored for a pending settlement.
func storedPending(p *x402.Payment, rec *ledger.Settlement) *x402.SettleResponse {
	if rec.Response != nil {
		return answerFor(p, rec.Response)
	}
	return &x402.SettleResponse{
		ErrorReason: x402.ReasonSettlementPending, Transaction: rec.TxHash, Network: wireNetwork(p),
		ErrorMessage: "the settlement transaction was broadcast but is not confirmed yet; do not pay again",
	}
}

// finish records the final (or pending) outcome of an unfinished
// settlement, if rec is still in the status read and still the claim
// rec.ClaimID (rows from before claim ids have none, and match any). It
// reports whether it did. Callers pass the claim they read or own, so that
// a repair working from a stale read never touches a newer claim of the key.
func (f *Facilitator) finish(ctx context.Context, rec *ledger.Settlement, resp *x402.SettleResponse) bool {
	status := ledger.StatusFailed
	switch {
	case resp.Success:
		status = ledger.StatusSettled
	case resp.ErrorReason == x402.ReasonSettlementPending:
		status = ledger.StatusPending
	}
	if status == rec.Status {
		return false // still pending: nothing to record
	}
	err := f.update(ctx, rec.Key, ledger.Update{From: rec.Status, Status: status, TxHash: resp.Transaction, Response: resp, ClaimID: rec.ClaimID})
	if err != nil {
		if !errors.Is(err, ledger.ErrConflict) && !errors.Is(err, ledger.ErrNotFound) {
			f.log.Error("recording reconciled settlement", "tx", resp.Transaction, "err", err)
		}
		return false
	}
	return true
}

// requeue gives back the key of a pending settlement whose transaction the
// chain does not know (and whose authorization is unused): it moves the
// settlement back to settling (compare-and-set, so that only one instance
// does) and then releases it. It reports whether the key was released.
func (f *Facilitator) requeue(ctx context.Context, rec *ledger.Settlement) bool {
	if err := f.update(ctx, rec.Key, ledger.Update{From: ledger.StatusPending, Status: ledger.StatusSettling, ClaimID: rec.ClaimID}); err != nil {
		if !errors.Is(err, ledger.ErrConflict) && !errors.Is(err, ledger.ErrNotFound) {
			f.log.Error("returning a dropped settlement to settling", "tx", rec.TxHash, "err", err)
		}
		return false
	}
	if err := f.releaseKey(ctx, rec.Key, rec.TxHash, rec.ClaimID); err != nil {
		f.log.Error("releasing a dropped settlement; left for the reconciler", "tx", rec.TxHash, "err", err)
		return false
	}
	f.log.Warn("pending settlement dropped: its transaction is unknown to the node and the authorization unused; released so the payment can be settled again",
		"payer", rec.Key.Payer, "nonce", rec.Key.Nonce, "tx", rec.TxHash, "pendingSince", rec.UpdatedAt)
	return true
}

// update applies u, trying again after a ledger failure. A try that finds
// the settlement already as u leaves it counts as applied: an earlier try
// whose answer was lost wrote it.
func (f *Facilitator) update(ctx context.Context, key x402.SettlementKey, u ledger.Update) error {
	retried := false
	return f.retryLedger(ctx, "update", func(ctx context.Context) error {
		err := f.cfg.Store.Update(ctx, key, u)
		if retried && errors.Is(err, ledger.ErrConflict) {
			if rec, gerr := f.cfg.Store.Get(ctx, key); gerr == nil && rec.Status == u.Status &&
				(u.TxHash == "" || rec.TxHash == u.TxHash) && (u.ClaimID == "" || rec.ClaimID == u.ClaimID) {
				return nil
			}
		}
		retried = true
		return err
	})
}

// releaseKey deletes a settling claim that records tx (and is the claim
// claimID, if set), trying again after a ledger failure. A claim already
// gone counts as released.
func (f *Facilitator) releaseKey(ctx context.Context, key x402.SettlementKey, tx, claimID string) error {
	err := f.retryLedger(ctx, "release", func(ctx context.Context) error {
		return f.cfg.Store.Release(ctx, key, tx, claimID)
	})
	if errors.Is(err, ledger.ErrNotFound) {
		return nil
	}
	return err
}

// releaseUnused deletes rec, a settling claim under which no funds moved,
// if it is still the claim rec.ClaimID with transaction rec.TxHash. It
// reports whether the key was given back; a failure of the ledger is
// logged, and the claim left for the reconciler.
func (f *Facilitator) releaseUnused(ctx context.Context, rec *ledger.Settlement) bool {
	err := f.releaseKey(ctx, rec.Key, rec.TxHash, rec.ClaimID)
	if err != nil && !errors.Is(err, ledger.ErrConflict) { // a conflict: the claim moved on
		f.log.Error("releasing a settlement claim that moved no funds; kept for reconciliation",
			"payer", rec.Key.Payer, "nonce", rec.Key.Nonce, "tx", rec.TxHash, "err", err)
	}
	return err == nil
}

// retryLedger runs op until it succeeds or answers ErrConflict or
// ErrNotFound (answers, not failures), at most ledgerWriteAttempts times
// and while ctx lasts, waiting a little longer before each new try.
func (f *Facilitator) retryLedger(ctx context.Context, op string, fn func(context.Context) error) error {
	delay := ledgerRetryDelay
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || errors.Is(err, ledger.ErrConflict) || errors.Is(err, ledger.ErrNotFound) ||
			attempt >= ledgerWriteAttempts || ctx.Err() != nil {
			return err
		}
		f.log.Warn("ledger write failed; trying again", "op", op, "attempt", attempt, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay *= 2
	}
}
