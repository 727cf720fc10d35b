package channelserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// admitNew decides on a payment for a channel the store does not know: a
// deposit opens it; a voucher is verified by the facilitator (which reads
// the chain) and the channel recorded with the charged total the voucher
// implies, as @x402/evm's server does for a channel it lost; a refund is
// refused.
func (s *Server) admitNew(ctx context.Context, rq *request, holder string, release func()) (*x402.Admission, error) {
	switch pl := rq.payload.(type) {
	case *batchsettlement.DepositPayload:
		return s.admitDeposit(ctx, rq, nil, pl, holder, release)
	case *batchsettlement.VoucherPayload:
		charged, ok := pl.Voucher.MaxClaimableAmount.Sub(rq.price)
		if !ok {
			return refuse(rq.payer, x402.ReasonBatchCumulativeAmountMismatch, "voucher is below the price"), nil
		}
		vr, err := s.cfg.Facilitator.Verify(ctx, facilitatorRequest(rq.p))
		if err != nil {
			return nil, fmt.Errorf("evm/batchsettlement/channelserver: facilitator verify: %w", err)
		}
		if !vr.IsValid {
			return &x402.Admission{Payer: rq.payer, Refused: vr}, nil
		}
		ch, adm, err := s.open(ctx, rq, charged, vr.Extra, holder)
		if adm != nil || err != nil {
			return adm, err
		}
		return &x402.Admission{Payer: rq.payer, Charge: s.newCharge(rq, &ch, &pl.Voucher, holder, release)}, nil
	}
	return refuse(rq.payer, x402.ReasonBatchMissingChannel, "no such channel"), nil
}

// open records a new channel charged at charged, with the chain state of
// a facilitator's extra, and takes its lease.
func (s *Server) open(ctx context.Context, rq *request, charged x402.Amount, extra x402.Object, holder string) (channels.Channel, *x402.Admission, error) {
	cfg, err := json.Marshal(rq.payload.Channel())
	if err != nil {
		return channels.Channel{}, nil, err
	}
	now := s.cfg.Now()
	ch := channels.Channel{ID: rq.id, Network: rq.p.Requirements.Network, Config: cfg, Charged: charged, SignedMax: charged}
	if st, ok := snapshot(extra); ok {
		applySnapshot(&ch.Onchain, st, now)
	}
	if err := s.cfg.Store.Create(ctx, ch); errors.Is(err, channels.ErrExists) {
		// Another replica opened it meanwhile.
		return ch, refuse(rq.payer, x402.ReasonBatchChannelBusy, "channel is being opened by another request"), nil
	} else if err != nil {
		return ch, nil, fmt.Errorf("evm/batchsettlement/channelserver: recording the channel: %w", err)
	}
	ch, err = s.reserve(ctx, rq.id, holder)
	if errors.Is(err, channels.ErrBusy) {
		return ch, refuse(rq.payer, x402.ReasonBatchChannelBusy, "channel is serving another request"), nil
	}
	return ch, nil, err
}

// admitDeposit verifies a deposit with the facilitator and reserves its
// charge; the deposit is settled on chain when the charge commits, and its
// transaction sent in PAYMENT-RESPONSE.
func (s *Server) admitDeposit(ctx context.Context, rq *request, ch *channels.Channel, pl *batchsettlement.DepositPayload, holder string, release func()) (*x402.Admission, error) {
	provisional := channels.Channel{ID: rq.id}
	if ch == nil {
		ch = &provisional
	}
	next, ok := ch.Charged.Add(rq.price)
	if !ok || pl.Voucher.MaxClaimableAmount != next {
		return s.corrective(rq, ch, x402.ReasonBatchCumulativeAmountMismatch, "voucher does not sign charged + price"), nil
	}
	if m := rq.extra.MinDeposit; m != nil && pl.Deposit.Amount.Cmp(*m) < 0 {
		return refuse(rq.payer, x402.ReasonBatchDepositBelowMinDeposit, "deposit is below the minimum"), nil
	}
	req := facilitatorRequest(rq.p)
	vr, err := s.cfg.Facilitator.Verify(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement/channelserver: facilitator verify: %w", err)
	}
	if !vr.IsValid {
		return &x402.Admission{Payer: rq.payer, Refused: vr}, nil
	}
	if ch == &provisional {
		opened, adm, err := s.open(ctx, rq, x402.Amount{}, vr.Extra, holder)
		if adm != nil || err != nil {
			return adm, err
		}
		ch = &opened
	}
	c := s.newCharge(rq, ch, &pl.Voucher, holder, release)
	c.settle = func(ctx context.Context) (*x402.SettleResponse, error) {
		sr, err := s.cfg.Facilitator.Settle(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("evm/batchsettlement/channelserver: settling the deposit: %w", err)
		}
		if !sr.Success {
			return sr, nil
		}
		if st, ok := snapshot(sr.Extra); ok {
			applySnapshot(&c.ch.Onchain, st, s.cfg.Now())
			if err := s.cfg.Store.Sync(ctx, rq.id, c.ch.Onchain); err != nil {
				return nil, fmt.Errorf("evm/batchsettlement/channelserver: recording the deposit: %w", err)
			}
		}
		return sr, nil
	}
	return &x402.Admission{Payer: rq.payer, Charge: c}, nil
}

// refund carries out a cooperative refund: the payer's zero-charge
// voucher (signing exactly the charged total) asks for the unspent
// balance; the server completes the payload (the claim of what was
// charged, the refund nonce and, when it holds the receiver-authorizer
// key, both signatures) and has the facilitator settle it. The handler
// does not run.
func (s *Server) refund(ctx context.Context, rq *request, ch *channels.Channel, pl *batchsettlement.RefundPayload) (*x402.Admission, error) {
	if pl.Voucher.MaxClaimableAmount != ch.Charged {
		return s.corrective(rq, ch, x402.ReasonBatchCumulativeAmountMismatch, "refund voucher does not sign the charged total"), nil
	}
	if rq.verifier.LocallyVerifiable() {
		if err := rq.verifier.VerifySignature(&pl.Voucher); err != nil {
			return refuseErr(rq.payer, x402.ReasonBatchVoucherSignature, err), nil
		}
	}
	remainder, ok := ch.Onchain.Balance.Sub(ch.Charged)
	if !ok || remainder.IsZero() {
		return refuse(rq.payer, x402.ReasonBatchRefundNoBalance, "nothing left to refund"), nil
	}
	amount := remainder
	if pl.Amount != nil {
		if pl.Amount.IsZero() || pl.Amount.Cmp(remainder) > 0 {
			return refuse(rq.payer, x402.ReasonBatchRefundAmountInvalid, "refund amount exceeds the unspent balance"), nil
		}
		amount = *pl.Amount
	}
	done, err := s.completeRefund(ctx, rq, ch, pl, amount)
	if err != nil {
		return nil, err
	}
	return &x402.Admission{Payer: rq.payer, Done: done}, nil
}

// completeRefund completes the refund payload and settles it.
func (s *Server) completeRefund(ctx context.Context, rq *request, ch *channels.Channel, pl *batchsettlement.RefundPayload, amount x402.Amount) (*x402.Operation, error) {
	enriched := *pl
	nonce := x402.NewAmount(ch.Onchain.RefundNonce)
	enriched.Amount, enriched.RefundNonce = &amount, &nonce
	enriched.Claims = []batchsettlement.VoucherClaim{{Channel: pl.ChannelConfig, MaxClaimableAmount: pl.Voucher.MaxClaimableAmount,
		Signature: pl.Voucher.Signature, TotalClaimed: ch.Charged}}
	if a := s.cfg.Authorizer; a != nil {
		chainID := rq.verifier.ChainID()
		rsig, err := batchsettlement.SignRefund(ctx, a, chainID, rq.verifier.ChannelID(), nonce, amount)
		if err != nil {
			return nil, err
		}
		csig, err := batchsettlement.SignClaimBatch(ctx, a, chainID, enriched.Claims)
		if err != nil {
			return nil, err
		}
		enriched.RefundAuthorizerSignature, enriched.ClaimAuthorizerSignature = rsig[:], csig[:]
	}
	obj, err := batchsettlement.Object(&enriched)
	if err != nil {
		return nil, err
	}
	p := *rq.p
	p.Payload = obj
	sr, err := s.cfg.Facilitator.Settle(ctx, facilitatorRequest(&p))
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement/channelserver: settling the refund: %w", err)
	}
	if !sr.Success {
		return &x402.Operation{Response: sr}, nil
	}
	if err := s.syncFrom(ctx, rq.id, sr.Extra, s.cfg.Now()); err != nil {
		s.log.Warn("recording the refunded channel's state failed", "channel", rq.id, "err", err)
	}
	charged := ch.Charged
	sr.Extra, err = x402.NewObject(batchsettlement.ResponseExtra{ChannelState: &batchsettlement.ChannelState{ChargedCumulativeAmount: charged, HasCharged: true}})
	if err != nil {
		return nil, err
	}
	body, err := x402.NewObject(map[string]string{"message": "Refund acknowledged", "channelId": rq.id})
	if err != nil {
		return nil, err
	}
	return &x402.Operation{Response: sr, Body: body}, nil
}

// snapshot reads a channel snapshot from a facilitator's extra: the
// fields themselves, or under "channelState".
func snapshot(o x402.Object) (batchsettlement.ChannelState, bool) {
	if o.IsNull() {
		return batchsettlement.ChannelState{}, false
	}
	var w struct {
		ChannelState *batchsettlement.ChannelState `json:"channelState"`
	}
	if err := json.Unmarshal(o, &w); err == nil && w.ChannelState != nil {
		return *w.ChannelState, true
	}
	var st batchsettlement.ChannelState
	if err := json.Unmarshal(o, &st); err == nil && (st.HasBalance || st.HasTotalClaimed || st.HasWithdrawRequestedAt) {
		return st, true
	}
	return st, false
}

// applySnapshot sets the fields st has on o, read at now.
func applySnapshot(o *channels.Onchain, st batchsettlement.ChannelState, now time.Time) {
	if st.HasBalance {
		o.Balance = st.Balance
	}
	if st.HasTotalClaimed {
		o.TotalClaimed = st.TotalClaimed
	}
	if st.HasWithdrawRequestedAt {
		o.WithdrawRequestedAt = int64(min(st.WithdrawRequestedAt, 1<<62))
	}
	if st.HasRefundNonce {
		if n, ok := st.RefundNonce.Uint64(); ok {
			o.RefundNonce = n
		}
	}
	o.SyncedAt = now
}

// Wake has the claimer run at once.
func (s *Server) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
