package upto

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/x402"
)

// reconcileLookback is how many recent blocks are searched for the
// settlement that used a Permit2 nonce.
const reconcileLookback = 10_000

// topicSettled is the upto proxy's Settled() event.
var topicSettled = crypto.Keccak256Hash([]byte("Settled()"))

// Reconcile finds out from the chain what became of the settlement of key
// (see [x402.Reconciler]). A payment counts as made only when a successful
// transaction called the proxy's settle for this payer and Permit2 nonce:
// the recorded transaction tx if it did, else one found through the
// proxy's Settled events of the recent blocks. A settlement of 0 sent
// nothing and is always made.
func (f *Facilitator) Reconcile(ctx context.Context, p *x402.Payment, k x402.SettlementKey, tx string) (*x402.SettleResponse, error) {
	d, err := decode(p)
	if err != nil {
		return nil, fmt.Errorf("evm/upto: reconcile: %w", err)
	}
	pm := &d.Permit
	resp := &x402.SettleResponse{Network: p.Requirements.Network, Payer: pm.From.Hex()}
	amount := p.Requirements.Amount
	if amount.IsZero() {
		resp.Success, resp.Amount = true, &amount
		return resp, nil
	}
	var receipt *types.Receipt
	if tx != "" {
		h := common.HexToHash(tx)
		receipt, err = f.cfg.Backend.TransactionReceipt(ctx, h)
		if err != nil && !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("evm/upto: reconcile: receipt of %s: %w", tx, err)
		}
		if receipt != nil && receipt.Status == types.ReceiptStatusSuccessful {
			if paid, err := f.settledBy(ctx, h, pm); err != nil || paid != nil {
				return success(resp, h, paid), err
			}
		}
	}
	bitmap, rej, err := f.word(ctx, Permit2Address(), packNonceBitmap(pm.From, pm.Nonce), "Permit2 nonceBitmap", x402.ReasonPermit2ProxyNotDeployed)
	if err != nil {
		return nil, err
	}
	if rej != nil {
		return nil, fmt.Errorf("evm/upto: reconcile: %s", rej.msg)
	}
	if nonceUsed(bitmap, pm.Nonce) {
		h, paid, err := f.findSettlement(ctx, pm)
		if err != nil {
			return nil, fmt.Errorf("evm/upto: reconcile: looking for the settlement: %w", err)
		}
		if paid != nil {
			return success(resp, h, paid), nil
		}
		if receipt != nil {
			resp.Transaction = tx
		}
		resp.ErrorReason, resp.ErrorMessage = x402.ReasonPermit2InvalidNonce, "the Permit2 nonce was used by another transfer; this payment was not made"
		return resp, nil
	}
	if receipt != nil {
		return nil, x402.ErrNotSettled // mined and reverted; the nonce is still unused
	}
	if tx != "" {
		if _, isPending, err := f.cfg.Backend.TransactionByHash(ctx, common.HexToHash(tx)); err == nil && isPending {
			return pending(resp, tx), nil
		} else if err != nil && !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("evm/upto: reconcile: looking up %s: %w", tx, err)
		}
	}
	return nil, x402.ErrNotSettled
}

func success(resp *x402.SettleResponse, h common.Hash, amount *big.Int) *x402.SettleResponse {
	if amount == nil {
		return nil
	}
	a, err := x402.AmountFromBig(amount)
	if err != nil {
		return nil
	}
	resp.Success, resp.Transaction, resp.Amount = true, h.Hex(), &a
	return resp
}

// settledBy returns the amount transferred if the (successful) transaction
// h called the proxy's settle of pm (see [settleCall.settles]), else nil.
func (f *Facilitator) settledBy(ctx context.Context, h common.Hash, pm *Permit) (*big.Int, error) {
	t, _, err := f.cfg.Backend.TransactionByHash(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("evm/upto: reconcile: looking up %s: %w", h.Hex(), err)
	}
	if t.To() == nil || *t.To() != ProxyAddress() {
		return nil, nil
	}
	c, ok := parseSettleCalldata(t.Data())
	if !ok || !c.settles(pm) {
		return nil, nil
	}
	return c.amount, nil
}

// findSettlement looks through the proxy's Settled events of the recent
// blocks, newest first, for a successful settle of pm's payer and nonce.
func (f *Facilitator) findSettlement(ctx context.Context, pm *Permit) (common.Hash, *big.Int, error) {
	head, err := f.cfg.Backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return common.Hash{}, nil, err
	}
	from := new(big.Int)
	if n := head.Number.Uint64(); n > reconcileLookback {
		from.SetUint64(n - reconcileLookback)
	}
	logs, err := f.cfg.Backend.FilterLogs(ctx, ethereum.FilterQuery{FromBlock: from, Addresses: []common.Address{ProxyAddress()}, Topics: [][]common.Hash{{topicSettled}}})
	if err != nil {
		return common.Hash{}, nil, err
	}
	for i := len(logs) - 1; i >= 0; i-- {
		if logs[i].Removed {
			continue
		}
		amount, err := f.settledBy(ctx, logs[i].TxHash, pm)
		if err != nil {
			return common.Hash{}, nil, err
		}
		if amount != nil {
			return logs[i].TxHash, amount, nil
		}
	}
	return common.Hash{}, nil, nil
}

var _ x402.Reconciler = (*Facilitator)(nil)
