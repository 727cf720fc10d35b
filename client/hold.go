package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go402/go402/x402"
)

// chainCheckTimeout bounds one reading of the chain that decides whether a
// payment may be released, and reclaimTimeout the reclaim that precedes a
// payment: an unreachable endpoint must not hold payments up for long.
const (
	chainCheckTimeout = 10 * time.Second
	reclaimTimeout    = 5 * time.Second
)

// payHold is the budget held for the option being paid: a reservation
// until the payment is signed and sent, then, when its scheme can find it
// on chain, an outstanding authorization until it is known spent or
// unspent. A sent payment is never released on the server's word alone.
type payHold struct {
	c      *Client
	option *Option
	id     string       // "" when no budget is kept
	auth   *outstanding // the authorization sent, if its state can be read
	// recorded says that the reservation became an outstanding
	// authorization in the budget.
	recorded bool
	// channelSR is the settlement report of a payment through a channel,
	// as its scheme read it (see concludeChannel).
	channelSR *x402.SettleResponse
	// payload is the scheme payload sent (see spentCharged).
	payload x402.Object
}

// reserveFirst reserves the budget of the first allowed option whose price
// still fits: another payment may have used the budget since choose
// looked. It returns the most relevant refusal when none fits.
func (c *Client) reserveFirst(ctx context.Context, ch *choice, host string) (*payHold, error) {
	refusal := ch.refusal
	for i := range ch.allowed {
		o := &ch.allowed[i]
		id, pe, err := c.reserve(ctx, o, host)
		if err != nil {
			return nil, err
		}
		if pe != nil {
			refusal = moreRelevant(refusal, pe)
			continue
		}
		return &payHold{c: c, option: o, id: id}, nil
	}
	return nil, refusal
}

// reserve sets the price of o aside against the budgets. An option whose
// price is unknown (no money limit is set, or the policy would have
// refused it) is not counted.
func (c *Client) reserve(ctx context.Context, o *Option, host string) (string, *PolicyError, error) {
	amount, unit, counted := c.policy.charge(o)
	if !counted {
		return "", nil, nil
	}
	return c.budget.reserve(ctx, amount, unit, host, c.now().Add(reservationTTL), func(u usage) *PolicyError {
		return c.policy.check(o, u)
	})
}

// sending records the authorization about to be sent (nil if its state
// cannot be read) as outstanding: from now on it counts as spent until
// proven unspent, in the budget file too, should this process die.
func (h *payHold) sending(ctx context.Context, auth *outstanding) {
	h.auth = auth
	if h.id == "" || auth == nil {
		return
	}
	if err := h.c.budget.send(context.WithoutCancel(ctx), h.id, *auth); err != nil {
		h.c.log.DebugContext(ctx, "recording the authorization sent failed; it counts as spent", "err", err)
		return
	}
	h.recorded = true
}

// validBefore is when the authorization sent stops being usable; zero if
// unknown.
func (h *payHold) validBefore() time.Time {
	if h.auth == nil {
		return time.Time{}
	}
	return h.auth.ValidBefore
}

// finish settles the budget held: spent for good, unspent (dropped), or
// released (no longer counted, and watched until it expires).
func (h *payHold) finish(ctx context.Context, how resolution) {
	if h.id == "" {
		return
	}
	bg := context.WithoutCancel(ctx)
	var err error
	switch {
	case h.recorded:
		err = h.c.budget.resolve(bg, h.id, how)
	case how == resolvedSpent:
		err = h.c.budget.commit(bg, h.id)
	default:
		err = h.c.budget.release(bg, h.id)
	}
	if err != nil {
		h.c.log.DebugContext(ctx, "updating the budget failed", "err", err)
	}
}

// unresolved leaves a payment whose fate is unknown counted: outstanding
// until the chain tells, or spent when its state cannot be read.
func (h *payHold) unresolved(ctx context.Context) {
	if !h.recorded {
		h.finish(ctx, resolvedSpent)
	}
}

// claimedUnspent handles a server's answer that it did not take the
// payment. The claim is believed only when the chain shows the
// authorization unused: then the budget is released (the authorization is
// still watched until it expires) and it returns true. Used, it is spent;
// unreadable, it stays counted.
func (h *payHold) claimedUnspent(ctx context.Context) bool {
	if h.auth == nil {
		h.unresolved(ctx)
		return false
	}
	tr, ok := h.option.scheme.(authorizationTracker)
	if !ok {
		h.unresolved(ctx)
		return false
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), chainCheckTimeout)
	defer cancel()
	used, expired, err := tr.AuthorizationState(cctx, h.auth.key(), h.auth.ValidBefore)
	switch {
	case err != nil:
		h.c.log.DebugContext(ctx, "cannot read whether the payment was used; it stays counted until proven unspent", "network", h.auth.Network, "err", err)
		h.unresolved(ctx)
		return false
	case used:
		h.c.log.DebugContext(ctx, "the server refused the payment, but the chain shows it used", "network", h.auth.Network)
		h.finish(ctx, resolvedSpent)
		return false
	case expired:
		h.finish(ctx, resolvedUnspent)
	default:
		h.finish(ctx, resolvedReleased)
	}
	return true
}

// conclude reads the answer to a paid request: it settles the budget held
// by what the answer and the chain show of the payment and returns the
// response, or the error that the server refused the payment.
func (c *Client) conclude(req *http.Request, resp *http.Response, delivered bool, res *payHold, receipt *Receipt) (*http.Response, error) {
	ctx, chosen := req.Context(), res.option
	sr := settlementFrom(resp.Header)
	if sr == nil {
		sr = res.channelSR
	}
	// A receipt declared as a trailer comes after the body: the server
	// settles after streaming it, whatever its status.
	trailer := false
	if sr == nil && resp.StatusCode != http.StatusPaymentRequired {
		trailer = receiptFromTrailer(resp, receipt)
	}
	receipt.Settlement = sr
	if sr != nil && sr.Payer != "" {
		receipt.Payer = sr.Payer
	}
	pending := sr != nil && sr.ErrorReason == x402.ReasonSettlementPending
	switch {
	case resp.StatusCode == http.StatusPaymentRequired && delivered:
		// The 402 answers the payment sent again after a first attempt
		// that may have reached the server: the server may have served and
		// charged that one, and now refuses the copy.
		pe := rejection(resp, sr)
		res.unresolved(ctx)
		oc := *chosen
		c.log.DebugContext(ctx, "payment outcome unknown: the copy was refused", "url", redact(req.URL), "reason", pe.Reason)
		return nil, &OutcomeUnknownError{Option: &oc, StatusCode: pe.StatusCode, Reason: pe.Reason, Message: pe.Message, ValidBefore: res.validBefore()}
	case resp.StatusCode == http.StatusPaymentRequired:
		pe := rejection(resp, sr)
		oc := *chosen
		pe.Option = &oc
		if pending {
			res.unresolved(ctx)
		} else {
			pe.Unspent = res.claimedUnspent(ctx)
		}
		if !pe.Unspent {
			pe.ValidBefore = res.validBefore()
		}
		c.log.DebugContext(ctx, "payment rejected", "url", redact(req.URL), "reason", pe.Reason, "provenUnspent", pe.Unspent)
		return nil, pe
	case sr != nil && sr.Success && sr.Transaction == "" && chosen.channel == nil:
		// A success that sent nothing (an upto payment charged 0; channel
		// vouchers, which send nothing either, are the channel's): the
		// authorization is unused and stays valid until it expires, so it
		// counts until the chain shows it expired unused (or used).
		res.unresolved(ctx)
	case sr != nil && sr.Success:
		res.spentCharged(ctx, sr)
	case sr != nil && !pending, sr == nil && !delivered && !trailer && mayNotCharge(resp.StatusCode):
		// The server reports that the settlement failed, or answers with
		// an error without a settlement (x402 servers settle only
		// successful answers): believed if the chain agrees.
		receipt.Unspent = res.claimedUnspent(ctx)
	default:
		// Pending, served without a settlement report, or an answer that
		// a gateway or a server may give while the facilitator still
		// settles (502, 504), or that follows an attempt that may have
		// been served: counted until the chain tells.
		res.unresolved(ctx)
	}
	c.log.DebugContext(ctx, "paid", "url", redact(req.URL), "status", resp.StatusCode, "price", chosen.Price, "settled", sr != nil && sr.Success)
	return resp, nil
}

// mayNotCharge reports whether an answer to a paid request without a
// settlement report claims that the payment was not taken: a client or
// server error (4xx, 5xx), except those after which the settlement may
// still happen (see [SettlementMayFollow]).
func mayNotCharge(status int) bool {
	return status >= 400 && !SettlementMayFollow(status)
}

// SettlementMayFollow reports whether an error answer to a paid request
// that carries no settlement report may still be followed by the payment's
// settlement: 502 Bad Gateway and 504 Gateway Timeout, which a server or
// a proxy gives when the facilitator or the upstream is unreachable or slow.
// A [Client] keeps such a payment counted against its budgets until the
// chain shows it unused past its validity.
func SettlementMayFollow(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}

// Reclaim reads from the chain the state of the outstanding payments whose
// validity has ended (by the client's clock): payments sent that the server
// did not confirm, counted as spent until now, in this Client or, with a
// BudgetFile, in any earlier run. One used on chain stays spent; one unused
// at a block past its validBefore is released from the budgets. Those
// whose state cannot be read (no Config.RPCURLs entry for the network, an
// unreachable endpoint) stay counted, and the error says why.
//
// A Client calls it by itself, briefly, before each payment; call it to
// free the budget of a long-lived process sooner, or to report.
func (c *Client) Reclaim(ctx context.Context) error {
	due, err := c.budget.due(ctx, c.now())
	if err != nil {
		return err
	}
	var errs []error
	for id, rec := range due {
		sc, _, err := c.schemes.Lookup(rec.Version, rec.Scheme, rec.Network)
		tr, ok := sc.(authorizationTracker)
		if err != nil || !ok {
			errs = append(errs, fmt.Errorf("client: no scheme client reads x402 v%d %q payments on %s", rec.Version, rec.Scheme, rec.Network))
			continue
		}
		used, expired, err := tr.AuthorizationState(ctx, rec.key(), rec.ValidBefore)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("client: payment of %s on %s: %w", rec.Amount, rec.Network, err))
			continue
		case used:
			err = c.budget.resolve(ctx, id, resolvedSpent)
		case expired:
			err = c.budget.resolve(ctx, id, resolvedUnspent)
		default:
			continue // the chain has not reached validBefore yet
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// reclaimDue runs Reclaim, briefly, before a payment; what it cannot read
// stays counted.
func (c *Client) reclaimDue(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, reclaimTimeout)
	defer cancel()
	if err := c.Reclaim(rctx); err != nil {
		c.log.DebugContext(ctx, "reclaiming expired payments", "err", err)
	}
}
