package batchsettlement

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go402/go402/x402"
)

// Conclude hands the payer the answer to a payment it created, and
// releases the channel. A successful PAYMENT-RESPONSE advances the charged
// total by extra.chargedAmount after the spec's client checks (chargedAmount
// ≤ the price, extra.channelState's channelId and chargedCumulativeAmount =
// previous + chargedAmount, and the cumulative within the voucher signed);
// a violation marks the channel broken and returns a *ViolationError. A
// corrective 402 (cumulative mismatch or below claimed) is recovered from —
// the server's voucherState checked against the payer's own signature, or
// the chain read — and retry is true. Any other answer changes nothing
// but the outcome of a deposit, which stays unknown (the next payment reads
// the chain) unless the payload never left.
func (p *Payer) Conclude(ctx context.Context, version int, req x402.PaymentRequirements, payload x402.Object, ans x402.PaymentAnswer) (retry bool, err error) {
	t, err := p.terms(req)
	if err != nil {
		return false, err
	}
	key := recordKey(t.req.Network, t.id)
	p.mu.Lock()
	pp, held := p.pending[key]
	p.mu.Unlock()
	if held {
		defer p.release(key)
	}
	pl, err := ParseChannelPayload(payload)
	if err != nil {
		return false, err
	}
	ctx = context.WithoutCancel(ctx)
	sr := ans.Settlement
	switch {
	case sr != nil && sr.Success:
		if _, ok := pl.(*RefundPayload); ok {
			return false, p.afterRefund(ctx, t, pl.(*RefundPayload), sr)
		}
		return false, p.afterSettle(ctx, t, pl, sr, ans.URL)
	case ans.StatusCode == http.StatusPaymentRequired && ans.Required != nil && corrective(ans.Required.Error):
		return p.recover(ctx, t, ans.Required)
	case !ans.Delivered && !pp.deposit.IsZero():
		// The deposit never left: its authorization is not usable by
		// anyone.
		return false, p.clearPending(ctx, t)
	}
	return false, nil
}

func corrective(reason string) bool {
	return reason == string(x402.ReasonBatchCumulativeAmountMismatch) || reason == string(x402.ReasonBatchCumulativeBelowClaimed)
}

func (p *Payer) clearPending(ctx context.Context, t *terms) error {
	return p.cfg.Store.Update(ctx, t.req.Network, t.id, func(rec ChannelRecord, ok bool) (*ChannelRecord, error) {
		if !ok {
			return nil, nil
		}
		rec.PendingDeposit = x402.Amount{}
		return &rec, nil
	})
}

// violation marks the channel broken in the store and returns the error.
func (p *Payer) violation(ctx context.Context, t *terms, format string, args ...any) error {
	rule := fmt.Sprintf(format, args...)
	err := p.cfg.Store.Update(ctx, t.req.Network, t.id, func(rec ChannelRecord, ok bool) (*ChannelRecord, error) {
		if !ok {
			rec = ChannelRecord{Config: t.config}
		}
		rec.Broken = rule
		rec.Updated = p.cfg.Now().UTC()
		return &rec, nil
	})
	p.log.WarnContext(ctx, "server broke the batch-settlement rules; channel stopped", "network", t.req.Network, "channel", t.id.Hex(), "rule", rule)
	return errors.Join(&ViolationError{Network: t.req.Network, ChannelID: t.id, Rule: rule}, err)
}

// afterSettle checks a successful PAYMENT-RESPONSE and advances the channel.
func (p *Payer) afterSettle(ctx context.Context, t *terms, pl ChannelPayload, sr *x402.SettleResponse, url string) error {
	ex, err := ParseResponseExtra(sr.Extra)
	if err != nil {
		return p.violation(ctx, t, "malformed PAYMENT-RESPONSE extra: %v", err)
	}
	var charged x402.Amount
	if ex.ChargedAmount != nil {
		charged = *ex.ChargedAmount
	}
	price := t.req.Amount
	if charged.Cmp(price) > 0 {
		return p.violation(ctx, t, "chargedAmount %s exceeds the price %s", charged, price)
	}
	var deposit x402.Amount
	if dp, ok := pl.(*DepositPayload); ok {
		deposit = dp.Deposit.Amount
	}
	// "amount" is informative: @x402/evm's facilitator (and so its server)
	// reports a deposit's amount there, extra.chargedAmount being the
	// charge. A voucher's answer may not report more than the price.
	limit := price
	if deposit.Cmp(limit) > 0 {
		limit = deposit
	}
	if sr.Amount != nil && sr.Amount.Cmp(limit) > 0 {
		return p.violation(ctx, t, "amount %s exceeds the price %s and the deposit %s", sr.Amount, price, deposit)
	}
	cs := ex.ChannelState
	if cs != nil && cs.HasChannelID && cs.ChannelID != t.id {
		return p.violation(ctx, t, "channelState.channelId %s is not the channel paid", cs.ChannelID.Hex())
	}
	var rule string
	err = p.cfg.Store.Update(ctx, t.req.Network, t.id, func(rec ChannelRecord, ok bool) (*ChannelRecord, error) {
		if !ok {
			rec = ChannelRecord{Config: t.config}
		}
		rule = checkAdvance(&rec, cs, charged, deposit)
		if rule != "" {
			return nil, errNoChange
		}
		if url != "" {
			rec.URL = url
		}
		rec.Updated = p.cfg.Now().UTC()
		return &rec, nil
	})
	if rule != "" {
		return p.violation(ctx, t, "%s", rule)
	}
	return err
}

// checkAdvance applies a verified charge (and a deposit confirmed) to rec,
// or returns the rule the server's report breaks, rec then unchanged.
func checkAdvance(rec *ChannelRecord, cs *ChannelState, charged, deposit x402.Amount) string {
	next, ok := rec.Charged.Add(charged)
	if !ok {
		return "charged cumulative amount overflows"
	}
	if next.Cmp(rec.SignedMaxClaimable) > 0 {
		return fmt.Sprintf("charged cumulative %s exceeds the voucher signed (%s)", next, rec.SignedMaxClaimable)
	}
	if cs != nil && cs.HasCharged && cs.ChargedCumulativeAmount != next {
		return fmt.Sprintf("chargedCumulativeAmount %s is not the previous %s + chargedAmount %s", cs.ChargedCumulativeAmount, rec.Charged, charged)
	}
	balance, _ := rec.Balance.Add(deposit)
	if cs != nil && cs.HasBalance {
		if cs.Balance.Cmp(next) < 0 {
			return fmt.Sprintf("channelState.balance %s is below the charged cumulative %s", cs.Balance, next)
		}
		// A lower balance than expected only makes the payer top up
		// sooner; a higher one is not believed.
		if cs.Balance.Cmp(balance) < 0 {
			balance = cs.Balance
		}
	}
	rec.Charged, rec.Balance = next, balance
	if !deposit.IsZero() {
		rec.Deposited, _ = rec.Deposited.Add(deposit)
		rec.PendingDeposit = x402.Amount{}
	}
	if cs != nil && cs.HasTotalClaimed && cs.TotalClaimed.Cmp(next) <= 0 {
		rec.TotalClaimed = cs.TotalClaimed
	}
	return ""
}

// afterRefund records a refund the server reports done: the whole unclaimed
// balance, or the amount asked.
func (p *Payer) afterRefund(ctx context.Context, t *terms, rp *RefundPayload, _ *x402.SettleResponse) error {
	return p.cfg.Store.Update(ctx, t.req.Network, t.id, func(rec ChannelRecord, ok bool) (*ChannelRecord, error) {
		if !ok {
			return nil, nil
		}
		refunded := rec.Unclaimed()
		if rp.Amount != nil && rp.Amount.Cmp(refunded) < 0 {
			refunded = *rp.Amount
		}
		rec.Balance, _ = rec.Balance.Sub(refunded)
		rec.Refunded, _ = rec.Refunded.Add(refunded)
		rec.Updated = p.cfg.Now().UTC()
		return &rec, nil
	})
}

// recover adopts the channel state a corrective 402 reports, once verified:
// the server's voucherState must carry the payer's own signature over the
// ceiling, and the charged total must not exceed it (nor fall below what
// the chain shows claimed). Without a voucherState the chain is read.
func (p *Payer) recover(ctx context.Context, t *terms, pr *x402.PaymentRequired) (bool, error) {
	var extra *RequirementsExtra
	for i := range pr.Accepts {
		a := &pr.Accepts[i]
		if a.Scheme != Scheme || a.Network.Canonical() != t.req.Network.Canonical() ||
			!strings.EqualFold(a.PayTo, t.req.PayTo) || !strings.EqualFold(a.Asset, t.req.Asset) {
			continue
		}
		if ex, err := ParseRequirementsExtra(a.Extra); err == nil {
			extra = ex
			break
		}
	}
	if extra == nil {
		return false, nil
	}
	cs, vs := extra.ChannelState, extra.VoucherState
	if cs == nil || !cs.HasCharged || vs == nil {
		return p.recoverFromChain(ctx, t)
	}
	return p.recoverFromSignature(ctx, t, cs, vs)
}

func (p *Payer) recoverFromChain(ctx context.Context, t *terms) (bool, error) {
	if p.cfg.Reader == nil {
		return false, nil
	}
	// The server names no charged total it can prove: adopt the chain's
	// claimed total as the charged one, as @x402/evm does.
	bal, claimed, err := p.cfg.Reader.ReadChannel(ctx, t.req.Network, t.id)
	if err != nil {
		return false, err
	}
	err = p.cfg.Store.Update(ctx, t.req.Network, t.id, func(rec ChannelRecord, ok bool) (*ChannelRecord, error) {
		if !ok {
			rec = ChannelRecord{Config: t.config}
		}
		rec.Balance, rec.TotalClaimed, rec.Charged, rec.PendingDeposit = bal, claimed, claimed, x402.Amount{}
		rec.Updated = p.cfg.Now().UTC()
		return &rec, nil
	})
	return err == nil, err
}

func (p *Payer) recoverFromSignature(ctx context.Context, t *terms, cs *ChannelState, vs *VoucherState) (bool, error) {
	if cs.HasChannelID && cs.ChannelID != t.id {
		return false, p.violation(ctx, t, "corrective 402 names channel %s", cs.ChannelID.Hex())
	}
	charged, signed := cs.ChargedCumulativeAmount, vs.SignedMaxClaimable
	if charged.Cmp(signed) > 0 {
		return false, p.violation(ctx, t, "corrective 402: chargedCumulativeAmount %s exceeds signedMaxClaimable %s", charged, signed)
	}
	vo := Voucher{ChannelID: t.id, MaxClaimableAmount: signed, Signature: vs.Signature}
	if err := NewChannelVerifier(t.config, t.chainID).VerifySignature(&vo); err != nil {
		return false, p.violation(ctx, t, "corrective 402: voucherState is not the payer's signature over %s", signed)
	}
	balance, claimed, fromChain := cs.Balance, cs.TotalClaimed, false
	if p.cfg.Reader != nil {
		b, c, err := p.cfg.Reader.ReadChannel(ctx, t.req.Network, t.id)
		if err != nil {
			return false, err
		}
		if charged.Cmp(c) < 0 {
			return false, p.violation(ctx, t, "corrective 402: chargedCumulativeAmount %s is below the %s claimed on chain", charged, c)
		}
		balance, claimed, fromChain = b, c, true
	}
	err := p.cfg.Store.Update(ctx, t.req.Network, t.id, func(rec ChannelRecord, ok bool) (*ChannelRecord, error) {
		if !ok {
			rec = ChannelRecord{Config: t.config}
		}
		rec.Charged, rec.TotalClaimed = charged, claimed
		if signed.Cmp(rec.SignedMaxClaimable) >= 0 {
			rec.SignedMaxClaimable, rec.Signature = signed, vs.Signature
		}
		if fromChain || cs.HasBalance {
			rec.Balance = balance
		}
		if fromChain {
			rec.PendingDeposit = x402.Amount{}
		}
		rec.Updated = p.cfg.Now().UTC()
		return &rec, nil
	})
	return err == nil, err
}
