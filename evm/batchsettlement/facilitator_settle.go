package batchsettlement

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// settleDeposit verifies a deposit again and sends deposit(config, amount,
// ERC3009DepositCollector, collectorData). The answer carries the deposit
// as amount and the channel's state read after the receipt in
// extra.channelState.
func (f *Facilitator) settleDeposit(ctx context.Context, p *x402.Payment, d *DepositPayload, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	resp := &x402.SettleResponse{Network: responseNetwork(p), Payer: d.ChannelConfig.Payer.Hex()}
	// Gas estimation simulates the deposit: no eth_call here.
	v, err := f.verifyDeposit(ctx, p, d, false)
	if err != nil {
		return nil, err
	}
	if v.rej != nil {
		resp.ErrorReason, resp.ErrorMessage = v.rej.Reason, v.rej.Message
		return resp, nil
	}
	data, err := EncodeDeposit(d)
	if err != nil {
		return nil, err
	}
	out, err := f.transact(ctx, data, hooks, resp, x402.ReasonBatchDepositSimulationFailed, x402.ReasonBatchDepositTransactionFailed)
	if err != nil || out.receipt == nil {
		return answerOf(out), err
	}
	f.log.Info("deposit settled", "tx", out.tx, "channel", v.id, "amount", d.Deposit.Amount.String(), "gas", out.receipt.GasUsed)
	return f.depositAnswer(ctx, resp, d, v.id, out.tx, &v.pre)
}

func answerOf(out *sendOutcome) *x402.SettleResponse {
	if out == nil {
		return nil
	}
	return out.resp
}

// depositAnswer completes resp for a deposit mined in tx: amount and the
// channel's state once the node serves it (at least pre's balance plus the
// deposit); if it cannot be read in time, that sum (@x402/evm's optimistic
// snapshot) when pre is known.
func (f *Facilitator) depositAnswer(ctx context.Context, resp *x402.SettleResponse, d *DepositPayload, id, tx common.Hash, pre *chainState) (*x402.SettleResponse, error) {
	resp.Success, resp.Transaction, resp.ErrorReason, resp.ErrorMessage = true, tx.Hex(), "", ""
	amount := d.Deposit.Amount
	resp.Amount = &amount
	want := amount
	if pre != nil {
		want, _ = pre.balance.Add(amount)
	}
	st, ok := f.stateAfter(ctx, id, func(s chainState) bool { return s.balance.Cmp(want) >= 0 })
	if !ok || st.balance.Cmp(want) < 0 {
		if pre == nil {
			return resp, nil
		}
		st = *pre
		st.balance = want
	}
	return resp, setChannelState(resp, st.snapshot(id))
}

func setChannelState(resp *x402.SettleResponse, cs ChannelState) error {
	extra, err := x402.NewObject(ResponseExtra{ChannelState: &cs})
	if err != nil {
		return err
	}
	resp.Extra = extra
	return nil
}

// authorizerSignature returns sig, or, when it is empty, the signature of
// digest by the facilitator's ReceiverAuthorizer, which must be every
// channel's receiverAuthorizer (authorizers). The refusal says why it
// cannot sign.
func (f *Facilitator) authorizerSignature(ctx context.Context, sig []byte, authorizers []common.Address, sign func() ([]byte, error)) ([]byte, *x402.Error, error) {
	if len(sig) > 0 {
		return sig, nil, nil
	}
	ra := f.cfg.ReceiverAuthorizer
	if ra == nil {
		return nil, errf(x402.ReasonBatchAuthorizerNotConfigured, "no receiver-authorizer signature was sent and this facilitator holds no receiver-authorizer key"), nil
	}
	for _, a := range authorizers {
		if a != ra.Address() {
			return nil, errf(x402.ReasonBatchAuthorizerAddressMismatch, "channel receiverAuthorizer %s is not this facilitator's %s", a.Hex(), ra.Address().Hex()), nil
		}
	}
	s, err := sign()
	return s, nil, err
}

// claimAuthorizers lists the receiverAuthorizer of every claim.
func claimAuthorizers(claims []VoucherClaim) []common.Address {
	out := make([]common.Address, len(claims))
	for i := range claims {
		out[i] = claims[i].Channel.ReceiverAuthorizer
	}
	return out
}

// claimSignature is the ClaimBatch signature of claims: sig, or ours.
func (f *Facilitator) claimSignature(ctx context.Context, sig []byte, claims []VoucherClaim) ([]byte, *x402.Error, error) {
	return f.authorizerSignature(ctx, sig, claimAuthorizers(claims), func() ([]byte, error) {
		s, err := SignClaimBatch(ctx, f.cfg.ReceiverAuthorizer, f.chainID, claims)
		return s[:], err
	})
}

// settleClaim sends claimWithSignature(claims, signature), signing the
// ClaimBatch itself when the server omitted the signature and the
// channels' receiverAuthorizer is this facilitator's key. A claim moves no
// funds to anyone: the answer has no amount and no payer, as @x402/evm's.
func (f *Facilitator) settleClaim(ctx context.Context, p *x402.Payment, c *ClaimPayload, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	resp := &x402.SettleResponse{Network: responseNetwork(p)}
	sig, rej, err := f.claimSignature(ctx, c.ClaimAuthorizerSignature, c.Claims)
	if err != nil || rej != nil {
		return f.failed(p, rej, ""), err
	}
	data, err := EncodeClaimWithSignature(c.Claims, sig)
	if err != nil {
		return nil, err
	}
	out, err := f.transact(ctx, data, hooks, resp, x402.ReasonBatchClaimSimulationFailed, x402.ReasonBatchClaimTransactionFailed)
	if err != nil || out.receipt == nil {
		return answerOf(out), err
	}
	f.log.Info("claims settled", "tx", out.tx, "claims", len(c.Claims), "gas", out.receipt.GasUsed)
	resp.Success, resp.Transaction = true, out.tx.Hex()
	return resp, nil
}

// settleSweep sends settle(receiver, token) when the contract holds
// claimed funds not yet paid to receiver; otherwise it answers
// nothing_to_settle without a transaction, as @x402/evm does. amount is
// what the Settled event says was paid.
func (f *Facilitator) settleSweep(ctx context.Context, p *x402.Payment, s *SettlePayload, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	resp := &x402.SettleResponse{Network: responseNetwork(p)}
	nums, err := f.unpackBig(ctx, nil, "receivers", s.Receiver, s.Token)
	if err != nil {
		rej, err := readFailure(err, "the receiver's totals")
		if err != nil {
			return nil, err
		}
		return f.failed(p, rej, ""), nil
	}
	if len(nums) != 2 || nums[0].Cmp(nums[1]) <= 0 {
		return f.failed(p, errf(x402.ReasonBatchNothingToSettle, "nothing to settle for receiver %s and token %s", s.Receiver.Hex(), s.Token.Hex()), ""), nil
	}
	data, err := EncodeSettle(s.Receiver, s.Token)
	if err != nil {
		return nil, err
	}
	out, err := f.transact(ctx, data, hooks, resp, x402.ReasonBatchSettleSimulationFailed, x402.ReasonBatchSettleTransactionFailed)
	if err != nil || out.receipt == nil {
		return answerOf(out), err
	}
	amount, _ := eventAmount(out.receipt, topicSettled, common.BytesToHash(s.Receiver[:]))
	f.log.Info("receiver settled", "tx", out.tx, "receiver", s.Receiver, "amount", amount.String(), "gas", out.receipt.GasUsed)
	resp.Success, resp.Transaction, resp.Amount = true, out.tx.Hex(), &amount
	return resp, nil
}

// refundable is @x402/evm's getRefundableAmount: the requested amount
// capped at what stays unclaimed once the payload's claims of this channel
// are applied. ok is false when it cannot be told (claims above the
// balance); the simulation then decides.
func refundable(r *RefundPayload, st chainState, id, sep common.Hash) (amount x402.Amount, postClaimed x402.Amount, ok bool) {
	postClaimed = st.totalClaimed
	for i := range r.Claims {
		if ChannelIDWithSeparator(r.Claims[i].Channel, sep) == id && r.Claims[i].TotalClaimed.Cmp(postClaimed) > 0 {
			postClaimed = r.Claims[i].TotalClaimed
		}
	}
	available, fits := st.balance.Sub(postClaimed)
	if !fits {
		return x402.Amount{}, postClaimed, false
	}
	if r.Amount.Cmp(available) > 0 {
		return available, postClaimed, true
	}
	return *r.Amount, postClaimed, true
}

// settleRefund sends refundWithSignature for a completed refund, after
// its outstanding claims in one multicall, signing the Refund (and the
// ClaimBatch) itself when the server omitted them and the channel's
// receiverAuthorizer is this facilitator's key. amount is what the
// Refunded event says went back to the payer.
func (f *Facilitator) settleRefund(ctx context.Context, p *x402.Payment, r *RefundPayload, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	cfg := &r.ChannelConfig
	resp := &x402.SettleResponse{Network: responseNetwork(p), Payer: cfg.Payer.Hex()}
	id := ChannelIDWithSeparator(*cfg, f.sep)
	pre, err := f.readState(ctx, id, nil)
	if err != nil {
		rej, err := readFailure(err, "the channel")
		if err != nil {
			return nil, err
		}
		return f.failed(p, rej, resp.Payer), nil
	}
	if amount, _, ok := refundable(r, pre, id, f.sep); ok && amount.IsZero() {
		return f.failed(p, errf(x402.ReasonBatchRefundNoBalance, "nothing to refund: the channel's balance is all claimed"), resp.Payer), nil
	}
	sig, rej, err := f.authorizerSignature(ctx, r.RefundAuthorizerSignature, []common.Address{cfg.ReceiverAuthorizer}, func() ([]byte, error) {
		s, err := SignRefund(ctx, f.cfg.ReceiverAuthorizer, f.chainID, id, *r.RefundNonce, *r.Amount)
		return s[:], err
	})
	if err != nil || rej != nil {
		return f.failed(p, rej, resp.Payer), err
	}
	data, err := EncodeRefundWithSignature(cfg, *r.Amount, *r.RefundNonce, sig)
	if err != nil {
		return nil, err
	}
	if len(r.Claims) > 0 {
		claimSig, rej, err := f.claimSignature(ctx, r.ClaimAuthorizerSignature, r.Claims)
		if err != nil || rej != nil {
			return f.failed(p, rej, resp.Payer), err
		}
		claimData, err := EncodeClaimWithSignature(r.Claims, claimSig)
		if err != nil {
			return nil, err
		}
		if data, err = EncodeMulticall(claimData, data); err != nil {
			return nil, err
		}
	}
	out, err := f.transact(ctx, data, hooks, resp, x402.ReasonBatchRefundSimulationFailed, x402.ReasonBatchRefundTransactionFailed)
	if err != nil || out.receipt == nil {
		return answerOf(out), err
	}
	f.log.Info("refund settled", "tx", out.tx, "channel", id, "gas", out.receipt.GasUsed)
	return f.refundAnswer(ctx, resp, r, id, out, &pre)
}

// refundAnswer completes resp for a refund mined in out: amount from the
// Refunded event and the channel's state once the node serves the
// advanced refund nonce (else @x402/evm's computed snapshot, when pre is
// known).
func (f *Facilitator) refundAnswer(ctx context.Context, resp *x402.SettleResponse, r *RefundPayload, id common.Hash, out *sendOutcome, pre *chainState) (*x402.SettleResponse, error) {
	resp.Success, resp.Transaction, resp.ErrorReason, resp.ErrorMessage = true, out.tx.Hex(), "", ""
	amount, _ := eventAmount(out.receipt, topicRefunded, id)
	resp.Amount = &amount
	st, ok := f.stateAfter(ctx, id, func(s chainState) bool { return s.refundNonce.Cmp(*r.RefundNonce) > 0 })
	if !ok || st.refundNonce.Cmp(*r.RefundNonce) <= 0 {
		if pre == nil {
			return resp, nil
		}
		_, postClaimed, _ := refundable(r, *pre, id, f.sep)
		st = chainState{totalClaimed: postClaimed}
		st.balance, _ = pre.balance.Sub(amount)
		st.refundNonce, _ = r.RefundNonce.Add(x402.NewAmount(1))
	}
	if err := setChannelState(resp, st.snapshot(id)); err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: refund answer: %w", err)
	}
	return resp, nil
}
