package facilitator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// Settle settles a payment, at most once per authorization. A repeated
// settle of the same payment returns the first result.
func (f *Facilitator) Settle(ctx context.Context, req *x402.FacilitatorRequest) (resp *x402.SettleResponse, err error) {
	defer func() { f.catalogue(ctx, req, resp, err) }() // see discovery.go
	s, p, rej := f.resolve(req)
	if rej != nil {
		resp := &x402.SettleResponse{ErrorReason: rej.Reason, ErrorMessage: rej.Message, Network: req.Network()}
		f.recordSettle(ctx, req, p, resp, nil)
		return resp, nil
	}
	id, ok := s.(x402.Identifier)
	if !ok {
		// The scheme has no replay key: settle directly.
		resp, err := s.Settle(ctx, p, x402.SettleHooks{})
		f.recordSettle(ctx, req, p, resp, err)
		return resp, err
	}
	key, fp, err := id.Identify(p)
	if err != nil {
		// Undecodable payload: the scheme rejects it without moving funds.
		resp, err := s.Settle(ctx, p, x402.SettleHooks{})
		f.recordSettle(ctx, req, p, resp, err)
		return resp, err
	}
	if rej, err := f.bindPaymentID(ctx, p, key, fp); err != nil || rej != nil {
		if err != nil {
			f.recordSettle(ctx, req, p, nil, err)
			return nil, err
		}
		resp := &x402.SettleResponse{ErrorReason: rej.Reason, ErrorMessage: rej.Message, Network: req.Network()}
		f.recordSettle(ctx, req, p, resp, nil)
		return resp, nil
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("facilitator: encoding request: %w", err)
	}
	rec := &ledger.Settlement{
		Key: key, Fingerprint: fp, Request: body, Scheme: s.Scheme(), Version: p.Version,
		PayTo: p.Requirements.PayTo, Amount: p.Requirements.Amount.String(), Owner: f.cfg.Instance,
	}
	if p.Resource != nil {
		rec.Resource = p.Resource.URL
	}

	for attempt := 0; ; attempt++ {
		resp, owned, err := f.settleKeyed(ctx, req, s, p, rec)
		if errors.Is(err, errRetryClaim) && attempt < maxClaimAttempts {
			continue
		}
		if !owned {
			// The owner recorded the settlement itself; record this answer
			// as a repeat of it.
			f.recordRepeat(ctx, req, p, resp, err)
		}
		return resp, err
	}
}

func (f *Facilitator) recordRepeat(ctx context.Context, req *x402.FacilitatorRequest, p *x402.Payment, resp *x402.SettleResponse, err error) {
	ev := f.event(ledger.EventSettle, req, p)
	if err != nil {
		ev.Status, ev.Message = "error", err.Error()
	} else {
		ev.Status, ev.Payer, ev.TxHash, ev.Reason = settleStatus(resp), resp.Payer, resp.Transaction, resp.ErrorReason
		ev.Message = "repeat of an earlier settle of this authorization"
		if resp.ErrorMessage != "" {
			ev.Message += ": " + resp.ErrorMessage
		}
	}
	f.record(ctx, ev)
}

// settleKeyed claims rec's key and settles, or waits for the outcome of
// the request that claimed it first.
//
// owned reports whether this request settled (and recorded) it itself.
func (f *Facilitator) settleKeyed(ctx context.Context, req *x402.FacilitatorRequest, s x402.SchemeFacilitator, p *x402.Payment, rec *ledger.Settlement) (resp *x402.SettleResponse, owned bool, err error) {
	key, fp := rec.Key, rec.Fingerprint
	if fl := f.flight(key); fl != nil {
		resp, err := f.await(ctx, s, p, key, fp, nil, fl)
		return resp, false, err
	}
	// Count the request as in flight before claiming, so that Shutdown
	// waits for any settlement it may start.
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, false, ErrShuttingDown // recorded by the caller as an error event
	}
	f.wg.Add(1)
	f.mu.Unlock()
	// The settlement ends within SettleTimeout of the claim, counted from
	// before it: other instances rely on that to tell an abandoned claim.
	deadline := time.Now().Add(f.cfg.SettleTimeout)
	rec.ClaimID = newClaimID()
	existing, claimed, err := f.claim(ctx, rec)
	if err != nil || !claimed {
		f.wg.Done()
		if err != nil {
			return nil, false, err // recorded by the caller as an error event
		}
		resp, err := f.await(ctx, s, p, key, fp, existing, nil)
		return resp, false, err
	}
	fl := &flight{done: make(chan struct{}), fingerprint: fp}
	f.mu.Lock()
	f.flights[key] = fl
	f.mu.Unlock()

	// The settlement runs to completion whatever happens to the caller.
	go func() {
		defer f.wg.Done()
		sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		defer cancel()
		func() {
			defer func() {
				if r := recover(); r != nil {
					// Keep the claim (a transaction may be out): the
					// reconciler resolves it.
					f.log.Error("settlement panicked; claim kept for reconciliation", "panic", r)
					fl.resp, fl.err = nil, fmt.Errorf("facilitator: settlement failed unexpectedly: %v", r)
				}
			}()
			fl.resp, fl.err = f.settleOwned(sctx, s, p, key, rec.ClaimID)
			if fl.resp == nil && fl.err == nil {
				fl.err = errors.New("facilitator: scheme returned no settlement response")
			}
		}()
		if !errors.Is(fl.err, errRetryClaim) { // else the request settles again and records that
			f.recordSettle(sctx, req, p, fl.resp, fl.err)
		}
		f.mu.Lock()
		delete(f.flights, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	resp, err = f.await(ctx, s, p, key, fp, nil, fl)
	return resp, true, err
}

func payerOf(r *x402.SettleResponse) string {
	if r == nil {
		return ""
	}
	return r.Payer
}

// settleOwned settles a claimed authorization and records the outcome.
// Every ledger change names the claim, so that nothing is recorded on (or
// sent under) a claim made after this one was released.
func (f *Facilitator) settleOwned(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, key x402.SettlementKey, claimID string) (*x402.SettleResponse, error) {
	var lastTx string
	hooks := x402.SettleHooks{BeforeBroadcast: func(ctx context.Context, tx string) error {
		err := f.update(ctx, key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: tx, ClaimID: claimID})
		switch {
		case errors.Is(err, ledger.ErrConflict), errors.Is(err, ledger.ErrNotFound):
			return fmt.Errorf("facilitator: recording transaction before broadcast: %w: %w", errClaimLost, err)
		case err != nil:
			return fmt.Errorf("facilitator: recording transaction before broadcast: %w", err)
		}
		lastTx = tx
		return nil
	}}
	resp, err := s.Settle(ctx, p, hooks)
	// Ledger writes after a possible broadcast must not fail because the
	// settlement's own deadline ran out.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ledgerWriteTimeout)
	defer cancel()
	if err != nil {
		if errors.Is(err, errClaimLost) && lastTx == "" {
			// Nothing was sent: settle again (or wait for who claimed it).
			f.log.Warn("settlement claim lost before broadcast; claiming again", "payer", key.Payer, "nonce", key.Nonce)
			return nil, errRetryClaim
		}
		// No verdict. A recorded transaction was not sent (the scheme
		// reports a possibly-sent one as pending, not as an error), but
		// let the chain confirm that before giving the key back.
		if verdict := f.release(wctx, s, p, key, lastTx, claimID); verdict != nil {
			return verdict, nil
		}
		return nil, err
	}
	var u ledger.Update
	switch {
	case resp.Success:
		u = ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettled, TxHash: resp.Transaction, Response: resp}
	case resp.ErrorReason == x402.ReasonSettlementPending:
		u = ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: resp.Transaction, Response: resp}
	case resp.Transaction != "":
		// Mined and reverted. Ask the chain: the authorization may have
		// been used anyway (the payment happened), or still be unused (the
		// key is given back so a retry can settle it). If the chain cannot
		// be asked now, the claim stays settling, with its transaction,
		// for the reconciler: a failure recorded now would be final,
		// though the authorization may still be good.
		if verdict := f.release(wctx, s, p, key, resp.Transaction, claimID); verdict != nil {
			return verdict, nil
		}
		return resp, nil
	default:
		// Rejected before anything was broadcast: give the key back so a
		// corrected retry (say, after a top-up) can settle.
		if verdict := f.release(wctx, s, p, key, lastTx, claimID); verdict != nil {
			return verdict, nil
		}
		return resp, nil
	}
	u.ClaimID = claimID
	if err := f.update(wctx, key, u); err != nil {
		// Funds may have moved: report the truth to the caller; the
		// reconciler repairs the ledger from the recorded hash.
		f.log.Error("settlement outcome not recorded; it will be reconciled", "tx", resp.Transaction, "status", u.Status, "err", err)
	}
	return resp, nil
}

// release gives back the key of the caller's claim, still settling,
// after a settlement that moved no funds, checking with the chain first
// when a transaction was recorded. If the chain shows the authorization
// was used after all (or a transaction is still pending), it records that
// outcome instead and returns it. If the chain or the ledger cannot be
// asked, the claim is kept for the reconciler.
//
// ctx is already detached from the caller's, and its deadline bounds the
// owner's last ledger writes (see StaleMargin).
func (f *Facilitator) release(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, key x402.SettlementKey, tx, claimID string) *x402.SettleResponse {
	rec := &ledger.Settlement{Key: key, Status: ledger.StatusSettling, TxHash: tx, ClaimID: claimID}
	if tx == "" {
		f.releaseUnused(ctx, rec)
		return nil
	}
	rc, ok := s.(x402.Reconciler)
	if !ok {
		f.log.Warn("keeping settlement claim: recorded transaction cannot be checked", "tx", tx)
		return nil
	}
	resp, _, err := f.checkChain(ctx, ctx, rc, p, rec) // ctx is detached already
	if err != nil && !errors.Is(err, x402.ErrNotSettled) {
		f.log.Warn("keeping settlement claim for reconciliation", "tx", tx, "err", err)
	}
	return answerFor(p, resp)
}

// gaveUp answers a caller who stopped waiting: with the stored answer of a
// settlement that has one (pending or final), else with the context error.
// A claim whose transaction may not have left is not reported as pending,
// and another payment's answer is never given.
func (f *Facilitator) gaveUp(key x402.SettlementKey, fp string, p *x402.Payment, cause error) (*x402.SettleResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ledgerReadTimeout)
	defer cancel()
	rec, err := f.cfg.Store.Get(ctx, key)
	if err == nil && rec.Status != ledger.StatusSettling {
		if rec.Fingerprint != fp {
			return conflict(p, rec), nil
		}
		if rec.Response != nil {
			return answerFor(p, rec.Response), nil
		}
	}
	return nil, fmt.Errorf("facilitator: gave up waiting for the settlement: %w", cause)
}

// conflict answers a settle whose key is taken by different content: the
// same payer and nonce presented with another amount, recipient or
// signature. It never returns the other payment's result.
func conflict(p *x402.Payment, rec *ledger.Settlement) *x402.SettleResponse {
	return &x402.SettleResponse{
		ErrorReason:  x402.ReasonDuplicateSettlement,
		ErrorMessage: "this authorization nonce was already presented for a different payment",
		Network:      wireNetwork(p),
		Payer:        payerOf(rec.Response),
	}
}

// answerFor returns a copy of a settle answer drawn from the ledger or from
// another request, with the network named as p's protocol version names it
// (a v1 request gets the legacy name even if a v2 request settled it).
func answerFor(p *x402.Payment, r *x402.SettleResponse) *x402.SettleResponse {
	if r == nil {
		return nil
	}
	c := *r
	if n := wireNetwork(p); n != "" {
		c.Network = n
	}
	return &c
}

func wireNetwork(p *x402.Payment) x402.Network {
	if p == nil {
		return ""
	}
	if p.Version == x402.V1 {
		if name, ok := p.Requirements.Network.V1Name(); ok {
			return x402.Network(name)
		}
	}
	return p.Requirements.Network
}
