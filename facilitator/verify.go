package facilitator

import (
	"context"
	"errors"
	"fmt"

	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// Verify checks a payment without moving funds. For a scheme that reports
// what it read of the payer's funds ([x402.FundsVerifier]), a valid
// payment also reserves its amount in the ledger until it settles (see
// the package documentation): a payer's verified payments never add up to
// more than their balance.
func (f *Facilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	start := f.cfg.Now()
	s, p, rej := f.resolve(req)
	ev := f.event(ledger.EventVerify, req, p)
	var resp *x402.VerifyResponse
	var recorded bool
	var err error
	switch {
	case rej != nil:
		resp = &x402.VerifyResponse{InvalidReason: rej.Reason, InvalidMessage: rej.Message}
	default:
		resp, recorded, err = f.verifyAgainstLedger(ctx, s, p, ev)
	}
	if !recorded {
		verifyEvent(ev, resp, err)
		f.record(ctx, ev)
	}
	f.log.Debug("verify", "status", ev.Status, "reason", ev.Reason, "network", ev.Network, "payer", ev.Payer, "elapsed", f.cfg.Now().Sub(start))
	return resp, err
}

// verifyEvent fills ev with a verify's outcome.
func verifyEvent(ev *ledger.Event, resp *x402.VerifyResponse, err error) {
	switch {
	case err != nil:
		ev.Status, ev.Message = "error", err.Error()
	case resp.IsValid:
		ev.Status, ev.Payer = "valid", resp.Payer
	default:
		ev.Status, ev.Payer, ev.Reason, ev.Message = "invalid", resp.Payer, resp.InvalidReason, resp.InvalidMessage
	}
	ev.Message = redact.Text(ev.Message)
}

// ReservesFunds reports that this facilitator bounds a payer's exposure
// itself: a verify answers valid only for funds not held by the payer's
// other verified, unsettled payments. A resource server's middleware asks
// for it through interface{ ReservesFunds() bool }.
func (f *Facilitator) ReservesFunds() bool { return true }

// verifyAgainstLedger runs the scheme's verify, and refuses an
// authorization that the ledger shows settled, or whose settlement is
// under way: until it is mined the chain still shows it unused, and a
// lagging chain read may show a settled one unused too; serving it twice
// would give away a resource. A settlement left unfinished (abandoned by
// its owner, or pending on a transaction since mined or dropped) is first
// checked with the chain. A reverted (failed) settlement leaves the answer
// to the chain. recorded reports that ev was filled and recorded with the
// payment's reservation.
//
// For a scheme that reports its funds, the ledger is read in the
// reservation's own transaction, which sees the key's settlement (see
// [ledger.ReserveResult.Settlement]): a valid payment costs no separate
// ledger read. Only when that transaction finds a settlement, or when the
// scheme's verdict is not valid, is the settlement read (and repaired if
// abandoned) to answer as before.
func (f *Facilitator) verifyAgainstLedger(ctx context.Context, s x402.SchemeFacilitator, p *x402.Payment, ev *ledger.Event) (_ *x402.VerifyResponse, recorded bool, _ error) {
	fv, _ := s.(x402.FundsVerifier)
	var key x402.SettlementKey
	identified := false
	if id, ok := s.(x402.Identifier); ok {
		if k, _, err := id.Identify(p); err == nil {
			key, identified = k, true
		}
	}
	if fv == nil {
		if identified {
			if out, _, err := f.ledgerAnswer(ctx, key, nil); out != nil || err != nil {
				return out, false, err
			}
		}
		resp, err := s.Verify(ctx, p)
		return resp, false, err
	}
	// At most twice: once more only after a repair freed the key.
	for attempt := 0; ; attempt++ {
		resp, funds, err := fv.VerifyFunds(ctx, p)
		if err != nil || !resp.IsValid || funds == nil {
			if identified {
				if out, _, lerr := f.ledgerAnswer(ctx, key, fv); out != nil || lerr != nil {
					return out, false, lerr
				}
			}
			return resp, false, err
		}
		out, recorded, settlement, err := f.reserve(ctx, fv, resp, funds, ev)
		if err != nil || settlement == "" {
			return out, recorded, err
		}
		// The key has a settlement: answer from it, as before, after
		// repairing it if abandoned.
		ans, repaired, err := f.ledgerAnswer(ctx, funds.Key, fv)
		switch {
		case err != nil:
			return nil, false, err
		case ans != nil:
			return ans, false, nil
		case attempt > 0 || !repaired:
			// Gone between the reservation's read and ours (finished as
			// failed, or given back): decided as being settled, the safe
			// answer; the payer may verify again.
			return out, false, nil
		}
	}
}

// ledgerAnswer reads the settlement of key and answers a verify from it:
// settled, or being settled (after checking an abandoned claim or a
// dropped transaction with the chain: only those can turn the answer into
// "valid"; a pending one still being mined is left to the reconciler). It
// returns nil when the ledger leaves the answer to the scheme (no
// settlement, or a failed one); repaired reports that a repair changed the
// settlement. fv may be nil.
func (f *Facilitator) ledgerAnswer(ctx context.Context, key x402.SettlementKey, fv x402.FundsVerifier) (_ *x402.VerifyResponse, repaired bool, _ error) {
	rec, err := f.cfg.Store.Get(ctx, key)
	if err == nil && f.flight(key) == nil && f.mayBeFree(rec) {
		if f.repair(ctx, rec, "checked by a verify") != repairUnchanged {
			repaired = true
			rec, err = f.cfg.Store.Get(ctx, key)
		}
	}
	switch {
	case err == nil && rec.Status == ledger.StatusSettled:
		return settledAnswer(fv, payerOf(rec.Response), rec.TxHash), repaired, nil
	case err == nil && !rec.Status.Final():
		return beingSettled(payerOf(rec.Response)), repaired, nil
	case err != nil && !errors.Is(err, ledger.ErrNotFound):
		return nil, repaired, fmt.Errorf("facilitator: reading ledger: %w", err)
	}
	return nil, repaired, nil
}

// beingSettled refuses an authorization whose settlement is under way.
func beingSettled(payer string) *x402.VerifyResponse {
	return &x402.VerifyResponse{Payer: payer, InvalidReason: x402.ReasonDuplicateSettlement,
		InvalidMessage: "this authorization is already being settled"}
}

// settledAnswer refuses an authorization the ledger shows settled.
func settledAnswer(fv x402.FundsVerifier, payer, tx string) *x402.VerifyResponse {
	reason := x402.ReasonDuplicateSettlement
	if fv != nil {
		_, reason = fv.FundsReasons()
	}
	return &x402.VerifyResponse{Payer: payer, InvalidReason: reason,
		InvalidMessage: fmt.Sprintf("this authorization was already settled by this facilitator (transaction %s)", tx)}
}

// reserve holds the funds of a payment the scheme found valid, and turns
// the answer into invalid if they are held by the payer's other verified
// payments, or if the authorization was settled meanwhile, or if it was
// verified before and is still reserved: a verified authorization is
// being used for one response (by this server or another sharing this
// facilitator's ledger), and a second verify of it, from a replica of the
// server, a second route or a replay, must not buy a second one. Its
// reservation ends when it is settled, or when it expires.
//
// The verify's event ev is filled from the answer and recorded in the
// same write as the reservation (recorded); if the Reserve fails, it is
// left to the caller, which records the error. When the ledger has a
// settlement of the key (settlement, not ""), nothing is reserved and no
// event written: the caller answers from the settlement and records ev.
func (f *Facilitator) reserve(ctx context.Context, fv x402.FundsVerifier, resp *x402.VerifyResponse, funds *x402.Funds, ev *ledger.Event) (_ *x402.VerifyResponse, recorded bool, settlement ledger.Status, _ error) {
	called := false
	res, err := f.cfg.Store.Reserve(ctx, &ledger.Reservation{
		Key: funds.Key, Amount: funds.Amount, Balance: funds.Balance, Expires: funds.Expires,
		Event: func(res ledger.ReserveResult) *ledger.Event {
			if res.Settlement != "" {
				return nil // answered from the settlement by the caller
			}
			called = true
			verifyEvent(ev, reserveAnswer(fv, resp, funds, res), nil)
			return ev
		},
	})
	if err != nil {
		return nil, false, "", fmt.Errorf("facilitator: reserving the payment's funds: %w", err)
	}
	// The answer is what the store returned, never what Event was told:
	// a store that could not write the event decides the reservation again
	// without it, and the outcome may have changed in between.
	out := reserveAnswer(fv, resp, funds, res)
	if res.EventErr != nil {
		f.log.Error("recording ledger event", "kind", ev.Kind, "err", res.EventErr)
	}
	if res.Settlement != "" {
		return out, false, res.Settlement, nil
	}
	return out, called && res.EventErr == nil, "", nil
}

// reserveAnswer is the answer to a verify whose funds' reservation had
// outcome res.
func reserveAnswer(fv x402.FundsVerifier, resp *x402.VerifyResponse, funds *x402.Funds, res ledger.ReserveResult) *x402.VerifyResponse {
	insufficient, _ := fv.FundsReasons()
	out := &x402.VerifyResponse{Payer: resp.Payer}
	switch {
	case res.Taken:
		out.InvalidReason = x402.ReasonDuplicateSettlement
		out.InvalidMessage = "this authorization was verified already and is reserved for that payment until it is settled or expires"
	case res.Reserved:
		return resp
	case res.Settlement == ledger.StatusSettled:
		return settledAnswer(fv, resp.Payer, "")
	case res.Settlement != "":
		return beingSettled(resp.Payer)
	default:
		out.InvalidReason = insufficient
		out.InvalidMessage = fmt.Sprintf("payer balance %s less %s reserved by other payments verified but not yet settled is less than %s",
			funds.Balance, res.Held, funds.Amount)
	}
	return out
}
