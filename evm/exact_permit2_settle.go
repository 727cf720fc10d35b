package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// Events of the exact proxy.
var (
	topicSettled           = crypto.Keccak256Hash([]byte("Settled()"))
	topicSettledWithPermit = crypto.Keccak256Hash([]byte("SettledWithPermit()"))
)

// settlePermit2 is Settle for a Permit2 payment: the checks of Verify
// (the simulation is left to gas estimation), then the exact proxy's
// settle, or settleWithPermit when the payment carries an EIP-2612 permit,
// sent from the facilitator's key. The outcome is reported as for EIP-3009
// payments: success with the hash, a failure with a reason (and the hash
// if it was mined and reverted), or settlement_pending with the hash.
func (f *ExactFacilitator) settlePermit2(ctx context.Context, p *x402.Payment, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	resp := &x402.SettleResponse{Network: responseNetwork(p)}
	c, rej := f.checkPermit2Local(p)
	if c != nil {
		resp.Payer = c.s.From.Hex()
	}
	if rej == nil {
		var err error
		if rej, err = f.checkPermit2Chain(ctx, c, false); err != nil {
			return nil, err
		}
	}
	if rej != nil {
		resp.ErrorReason, resp.ErrorMessage = rej.reason, rej.msg
		return resp, nil
	}
	to, data, err := c.settleCall(f.walletMulticall)
	if err != nil {
		return nil, err
	}
	var hook BeforeBroadcast
	if hooks.BeforeBroadcast != nil {
		hook = func(ctx context.Context, tx *types.Transaction) error {
			return hooks.BeforeBroadcast(ctx, tx.Hash().Hex())
		}
	}
	tx, err := f.cfg.Sender.SendWithHook(ctx, to, data, hook)
	var rev *RevertError
	switch {
	case err == nil:
	case errors.As(err, &rev):
		resp.ErrorReason, resp.ErrorMessage = permit2RevertReason(rev, false), "the settlement would revert: "+rev.Error()
		return resp, nil
	case tx != nil && errors.Is(err, ErrSendUnknown):
		f.log.Warn("settlement broadcast outcome unknown", "tx", tx.Hash(), "payer", resp.Payer, "err", err)
		return pending(resp, tx.Hash()), nil
	default:
		return nil, fmt.Errorf("evm: settlement not sent: %w", err)
	}
	f.log.Info("settlement sent", "tx", tx.Hash(), "payer", resp.Payer, "permit2", true, "eip2612", c.sponsor != nil)
	receipt, err := f.cfg.Sender.WaitReceipt(ctx, tx.Hash())
	switch {
	case receipt == nil || (err != nil && !errors.Is(err, ErrTxReverted)):
		f.log.Warn("settlement pending", "tx", tx.Hash(), "payer", resp.Payer, "err", err)
		return pending(resp, tx.Hash()), nil
	case receipt.Status != types.ReceiptStatusSuccessful || !c.paidIn(receipt):
		resp.Transaction = tx.Hash().Hex()
		resp.ErrorReason, resp.ErrorMessage = x402.ReasonExactEVMTransactionFailed, "the settlement transaction was mined but reverted"
		return resp, nil
	}
	resp.Success, resp.Transaction = true, tx.Hash().Hex()
	return resp, nil
}

// paidIn reports whether receipt shows c's transfer: the token's
// Transfer(owner, to, amount) followed by the exact proxy's Settled or
// SettledWithPermit.
func (c *p2checked) paidIn(receipt *types.Receipt) bool {
	return permit2Paid(receipt, c.asset, c.s.From, c.to, c.s.Permit.Amount)
}

func permit2Paid(receipt *types.Receipt, asset, owner, to common.Address, amount *big.Int) bool {
	want := transferOf{asset: asset, payer: owner, payTo: to, value: amount}
	proxy := permit2Spender()
	for i, l := range receipt.Logs {
		if !want.isTransfer(l) {
			continue
		}
		for _, next := range receipt.Logs[i+1:] {
			if next.Address == proxy && !next.Removed && len(next.Topics) == 1 &&
				(next.Topics[0] == topicSettled || next.Topics[0] == topicSettledWithPermit) {
				return true
			}
		}
	}
	return false
}

// reconcilePermit2 is Reconcile for a Permit2 payment of key (see
// [x402.Reconciler]): paid when the recorded transaction succeeded with
// the transfer; not settled when the owner's Permit2 nonce is still
// unused and the transaction reverted or is unknown; pending while it is;
// a failure when the nonce was used by something else.
func (f *ExactFacilitator) reconcilePermit2(ctx context.Context, p *x402.Payment, key x402.SettlementKey, tx string) (*x402.SettleResponse, error) {
	s, err := decodePermit2(p)
	if err != nil {
		return nil, fmt.Errorf("evm: reconcile: %w", err)
	}
	resp := &x402.SettleResponse{Network: responseNetwork(p), Payer: s.From.Hex()}
	asset, _ := hexAddress(key.Asset)
	payTo, _ := hexAddress(p.Requirements.PayTo)
	var receipt *types.Receipt
	if tx != "" {
		receipt, err = f.cfg.Backend.TransactionReceipt(ctx, common.HexToHash(tx))
		if err != nil && !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("evm: reconcile: receipt of %s: %w", tx, err)
		}
	}
	if receipt != nil && receipt.Status == types.ReceiptStatusSuccessful && permit2Paid(receipt, asset, s.From, payTo, s.Permit.Amount) {
		resp.Success, resp.Transaction = true, tx
		return resp, nil
	}
	used, err := f.permit2NonceUsed(ctx, s.From, s.Permit.Nonce)
	if err != nil {
		return nil, err
	}
	switch {
	case used:
		if receipt != nil {
			resp.Transaction = tx
		}
		resp.ErrorReason, resp.ErrorMessage = x402.ReasonPermit2InvalidNonce, "the Permit2 nonce was used by another transfer; this payment was not made"
		return resp, nil
	case receipt != nil:
		return nil, x402.ErrNotSettled // reverted, and the permit can still be settled
	case tx != "":
		if _, isPending, err := f.cfg.Backend.TransactionByHash(ctx, common.HexToHash(tx)); err == nil && isPending {
			return pending(resp, common.HexToHash(tx)), nil
		} else if err != nil && !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("evm: reconcile: looking up %s: %w", tx, err)
		}
	}
	return nil, x402.ErrNotSettled
}

// permit2NonceUsed reads the owner's Permit2 nonce bit.
func (f *ExactFacilitator) permit2NonceUsed(ctx context.Context, owner common.Address, nonce *big.Int) (bool, error) {
	word, rej, err := f.callUint(ctx, permit2.Address(), packNonceBitmap(owner, nonce), "nonceBitmap")
	if err != nil {
		return false, err
	}
	if rej != nil {
		return false, fmt.Errorf("evm: reading the Permit2 nonce: %s", rej.msg)
	}
	return nonceBitSet(word, nonce), nil
}
