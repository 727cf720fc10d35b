package batchsettlement

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/x402"
)

// Events of x402BatchSettlement that the facilitator reads from receipts.
var (
	topicDeposited = crypto.Keccak256Hash([]byte("Deposited(bytes32,address,uint128,uint128)"))
	topicSettled   = crypto.Keccak256Hash([]byte("Settled(address,address,address,uint128)"))
	topicRefunded  = crypto.Keccak256Hash([]byte("Refunded(bytes32,address,uint128)"))
)

// Token function selectors.
var (
	selBalanceOf          = crypto.Keccak256([]byte("balanceOf(address)"))[:4]
	selAuthorizationState = crypto.Keccak256([]byte("authorizationState(address,bytes32)"))[:4]
)

// errReadReverted marks a chain read the contract refused (no code at the
// address, a token without the function): a verdict, not an outage.
var errReadReverted = errors.New("evm/batchsettlement: chain read reverted")

// call makes one eth_call to to at block (nil: latest) and returns its
// output. A revert or an empty answer wraps errReadReverted; any other
// failure is returned as is (no verdict).
func (f *Facilitator) call(ctx context.Context, to common.Address, data []byte, block *big.Int) ([]byte, error) {
	out, err := f.cfg.Backend.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, block)
	if rev := evm.AsRevert(err); rev != nil {
		return nil, fmt.Errorf("%w: %s", errReadReverted, rev.Error())
	}
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: eth_call to %s: %w", to.Hex(), redact.Wrap(err))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s answered nothing (no contract?)", errReadReverted, to.Hex())
	}
	return out, nil
}

// unpackBig calls method of the settlement contract at block and returns
// its numeric outputs.
func (f *Facilitator) unpackBig(ctx context.Context, block *big.Int, method string, args ...any) ([]*big.Int, error) {
	data, err := f.abi.Pack(method, args...)
	if err != nil {
		return nil, err
	}
	out, err := f.call(ctx, SettlementContract(), data, block)
	if err != nil {
		return nil, err
	}
	vals, err := f.abi.Unpack(method, out)
	if err != nil {
		return nil, fmt.Errorf("%w: decoding %s: %v", errReadReverted, method, err)
	}
	nums := make([]*big.Int, len(vals))
	for i, v := range vals {
		b, ok := v.(*big.Int)
		if !ok {
			return nil, fmt.Errorf("%w: %s output %d is %T", errReadReverted, method, i, v)
		}
		nums[i] = b
	}
	return nums, nil
}

// chainState is a channel as the chain shows it at one block.
type chainState struct {
	balance, totalClaimed, refundNonce x402.Amount
	withdrawRequestedAt                uint64
}

// readState reads channels, pendingWithdrawals and refundNonce of id at
// one block (the latest mined one, so an unconfirmed deposit never counts).
func (f *Facilitator) readState(ctx context.Context, id common.Hash, block *big.Int) (chainState, error) {
	var st chainState
	if block == nil {
		h, err := f.cfg.Backend.HeaderByNumber(ctx, nil)
		if err != nil {
			return st, fmt.Errorf("evm/batchsettlement: reading the head: %w", redact.Wrap(err))
		}
		block = h.Number
	}
	ch, err := f.unpackBig(ctx, block, "channels", [32]byte(id))
	if err != nil {
		return st, err
	}
	wd, err := f.unpackBig(ctx, block, "pendingWithdrawals", [32]byte(id))
	if err != nil {
		return st, err
	}
	rn, err := f.unpackBig(ctx, block, "refundNonce", [32]byte(id))
	if err != nil {
		return st, err
	}
	if len(ch) != 2 || len(wd) != 2 || len(rn) != 1 || !wd[1].IsUint64() {
		return st, fmt.Errorf("%w: unexpected channel state shape", errReadReverted)
	}
	st.withdrawRequestedAt = wd[1].Uint64()
	if st.balance, err = x402.AmountFromBig(ch[0]); err == nil {
		if st.totalClaimed, err = x402.AmountFromBig(ch[1]); err == nil {
			st.refundNonce, err = x402.AmountFromBig(rn[0])
		}
	}
	return st, err
}

// snapshot is st as a ChannelState of id without chargedCumulativeAmount.
func (st chainState) snapshot(id common.Hash) ChannelState {
	s := NewChannelState(id, st.balance, st.totalClaimed, st.withdrawRequestedAt, st.refundNonce, x402.Amount{})
	s.HasCharged = false
	return s
}

// readWord makes one eth_call to a token returning one uint256.
func (f *Facilitator) readWord(ctx context.Context, token common.Address, data []byte, block *big.Int) (*big.Int, error) {
	out, err := f.call(ctx, token, data, block)
	if err != nil {
		return nil, err
	}
	if len(out) != 32 {
		return nil, fmt.Errorf("%w: token %s answered %d bytes", errReadReverted, token.Hex(), len(out))
	}
	return new(big.Int).SetBytes(out), nil
}

func packAddressCall(sel []byte, words ...[]byte) []byte {
	out := make([]byte, 4, 4+32*len(words))
	copy(out, sel)
	for _, w := range words {
		var word [32]byte
		copy(word[32-len(w):], w)
		out = append(out, word[:]...)
	}
	return out
}

// readFailure is the verdict on a chain read the contract refused, or nil
// and the error when the read itself failed.
func readFailure(err error, what string) (*x402.Error, error) {
	if errors.Is(err, errReadReverted) {
		return errf(x402.ReasonBatchRPCReadFailed, "reading %s: %v", what, err), nil
	}
	return nil, err
}

// sendOutcome is what became of a transaction the facilitator sent.
type sendOutcome struct {
	tx      common.Hash
	receipt *types.Receipt // set when mined successfully
	resp    *x402.SettleResponse
}

// transact simulates (through gas estimation) and sends data to the
// settlement contract, recording the hash through hooks first, and waits
// for the receipt. resp is the answer being built (network, payer).
//
// The outcome's receipt is set when the transaction was mined and
// succeeded; otherwise its resp is the final answer: simReason without a
// transaction when the contract refused the call, txReason with the hash
// when it was mined and reverted, settlement_pending with the hash when it
// was broadcast and not seen mined. An error means nothing was broadcast.
func (f *Facilitator) transact(ctx context.Context, data []byte, hooks x402.SettleHooks, resp *x402.SettleResponse, simReason, txReason x402.Reason) (*sendOutcome, error) {
	var hook evm.BeforeBroadcast
	if hooks.BeforeBroadcast != nil {
		hook = func(ctx context.Context, tx *types.Transaction) error {
			return hooks.BeforeBroadcast(ctx, tx.Hash().Hex())
		}
	}
	tx, err := f.cfg.Sender.SendWithHook(ctx, SettlementContract(), data, hook)
	var rev *evm.RevertError
	switch {
	case err == nil:
	case errors.As(err, &rev):
		resp.ErrorReason, resp.ErrorMessage = simReason, "the settlement contract refused the call: "+rev.Error()
		return &sendOutcome{resp: resp}, nil
	case errors.Is(err, evm.ErrGasCapExceeded):
		// Deterministic: the same payload would need the same gas again.
		resp.ErrorReason, resp.ErrorMessage = simReason, "the transaction needs more gas than this facilitator's cap allows; send fewer claims per payload"
		return &sendOutcome{resp: resp}, nil
	case tx != nil && errors.Is(err, evm.ErrSendUnknown):
		f.log.Warn("transaction broadcast outcome unknown", "tx", tx.Hash(), "err", err)
		return &sendOutcome{tx: tx.Hash(), resp: pendingAnswer(resp, tx.Hash())}, nil
	default:
		return nil, fmt.Errorf("evm/batchsettlement: transaction not sent: %w", err)
	}
	f.log.Info("transaction sent", "tx", tx.Hash(), "payer", resp.Payer)
	receipt, err := f.cfg.Sender.WaitReceipt(ctx, tx.Hash())
	switch {
	case receipt != nil && receipt.Status == types.ReceiptStatusSuccessful:
		return &sendOutcome{tx: tx.Hash(), receipt: receipt}, nil
	case receipt != nil:
		f.log.Warn("transaction reverted", "tx", tx.Hash())
		resp.Transaction, resp.ErrorReason, resp.ErrorMessage = tx.Hash().Hex(), txReason, "the transaction was mined but reverted"
		return &sendOutcome{tx: tx.Hash(), resp: resp}, nil
	}
	f.log.Warn("transaction pending", "tx", tx.Hash(), "err", err)
	return &sendOutcome{tx: tx.Hash(), resp: pendingAnswer(resp, tx.Hash())}, nil
}

// pendingAnswer is resp for a transaction broadcast and not seen mined.
func pendingAnswer(resp *x402.SettleResponse, h common.Hash) *x402.SettleResponse {
	resp.Transaction = h.Hex()
	resp.ErrorReason = x402.ReasonSettlementPending
	resp.ErrorMessage = "the transaction was broadcast but is not confirmed yet; do not send it again"
	return resp
}

// stateAfter reads the channel's state until done accepts it (the node
// serves the deposit or refund just mined), polling for at most
// StatePollTimeout; then it returns the last state read (ok false when
// none could be read).
func (f *Facilitator) stateAfter(ctx context.Context, id common.Hash, done func(chainState) bool) (chainState, bool) {
	deadline := time.Now().Add(f.cfg.StatePollTimeout)
	var last chainState
	ok := false
	for {
		st, err := f.readState(ctx, id, nil)
		if err == nil {
			last, ok = st, true
			if done(st) {
				return st, true
			}
		}
		if time.Now().After(deadline) {
			return last, ok
		}
		select {
		case <-ctx.Done():
			return last, ok
		case <-time.After(f.cfg.StatePollInterval):
		}
	}
}

// eventAmount returns the uint128 in the first data word of the first log
// of receipt emitted by the settlement contract with topic0 and, when
// topic1 is not zero, that first indexed topic.
func eventAmount(receipt *types.Receipt, topic0, topic1 common.Hash) (x402.Amount, bool) {
	for _, l := range receipt.Logs {
		if l.Address != SettlementContract() || l.Removed || len(l.Topics) < 2 || l.Topics[0] != topic0 || len(l.Data) < 32 {
			continue
		}
		if topic1 != (common.Hash{}) && l.Topics[1] != topic1 {
			continue
		}
		a, err := x402.AmountFromBig(new(big.Int).SetBytes(l.Data[:32]))
		return a, err == nil
	}
	return x402.Amount{}, false
}
