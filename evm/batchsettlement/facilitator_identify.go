package batchsettlement

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/internal/redact"
	"github.com/go402/go402/x402"
)

// ErrNoSettlementKey is returned by [Facilitator.Identify] for payloads
// that are not settled at most once: vouchers (never settled alone) and
// settle payloads (settle(receiver, token) pays what is due when it runs;
// a repeat pays only what was claimed since, or answers
// nothing_to_settle).
var ErrNoSettlementKey = errors.New("evm/batchsettlement: this payload has no settle-once key")

// reconcileLookback is how many recent blocks are searched for the
// transaction that used a deposit authorization.
const reconcileLookback = 10_000

var topicAuthorizationUsed = crypto.Keccak256Hash([]byte("AuthorizationUsed(address,bytes32)"))

// Identify returns the settle-once key of a payload and a fingerprint of
// its content (a SHA-256 of its canonical JSON), so that the same payload
// sent again is answered with the first result and never sent twice:
//
//   - deposit: (network, token, payer, the ERC-3009 nonce
//     keccak256(channelId, salt)), the authorization the token uses once;
//   - claim: (network, settlement contract, first claim's receiver,
//     "claim/" + the ClaimBatch digest), the rows (channel, ceiling,
//     total) claimed;
//   - completed refund: (network, token, payer, "refund/<channelId>/<refundNonce>"),
//     the refund nonce the contract uses once.
//
// Other payloads return [ErrNoSettlementKey] or the parser's error.
func (f *Facilitator) Identify(p *x402.Payment) (x402.SettlementKey, string, error) {
	pl, err := Decode(p)
	if err != nil {
		return x402.SettlementKey{}, "", err
	}
	key := x402.SettlementKey{Network: p.Requirements.Network}
	switch pl := pl.(type) {
	case *DepositPayload:
		cfg := &pl.ChannelConfig
		id := ChannelIDWithSeparator(*cfg, f.sep)
		nonce := ERC3009DepositNonce(id, pl.Deposit.Authorization.ERC3009Authorization.Salt)
		key.Asset, key.Payer, key.Nonce = lowerHex(cfg.Token[:]), lowerHex(cfg.Payer[:]), lowerHex(nonce[:])
	case *ClaimPayload:
		digest := ClaimBatchDigest(f.sep, ClaimEntries(f.sep, pl.Claims))
		settlement := SettlementContract()
		key.Asset, key.Payer, key.Nonce = lowerHex(settlement[:]), lowerHex(pl.Claims[0].Channel.Receiver[:]), "claim/"+lowerHex(digest[:])
	case *RefundPayload:
		if !pl.Completed() {
			return x402.SettlementKey{}, "", ErrNoSettlementKey
		}
		cfg := &pl.ChannelConfig
		id := ChannelIDWithSeparator(*cfg, f.sep)
		key.Asset, key.Payer, key.Nonce = lowerHex(cfg.Token[:]), lowerHex(cfg.Payer[:]), "refund/"+lowerHex(id[:])+"/"+pl.RefundNonce.String()
	default:
		return x402.SettlementKey{}, "", ErrNoSettlementKey
	}
	body, err := json.Marshal(pl)
	if err != nil {
		return x402.SettlementKey{}, "", fmt.Errorf("evm/batchsettlement: fingerprint: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(string(p.Requirements.Network) + "\x00"))
	h.Write(body)
	return key, hex.EncodeToString(h.Sum(nil)), nil
}

// Reconcile finds out from the chain what became of the settlement of a
// deposit, claim or refund whose last known transaction is tx (see
// [x402.Reconciler]):
//
//   - the transaction was mined and succeeded: the settlement's answer;
//   - a deposit authorization (a refund nonce) used by another
//     transaction: for a deposit, success with that transaction if it
//     deposited into the channel; otherwise a final failure;
//   - still pending: settlement_pending;
//   - otherwise [x402.ErrNotSettled]: nothing was used, the payload can be
//     sent again (a claim is idempotent on chain: rows at or below the
//     recorded totals are skipped).
func (f *Facilitator) Reconcile(ctx context.Context, p *x402.Payment, key x402.SettlementKey, tx string) (*x402.SettleResponse, error) {
	pl, err := Decode(p)
	if err != nil {
		return nil, err
	}
	resp := &x402.SettleResponse{Network: responseNetwork(p)}
	var receipt *types.Receipt
	if tx != "" {
		receipt, err = f.cfg.Backend.TransactionReceipt(ctx, common.HexToHash(tx))
		if err != nil && !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("evm/batchsettlement: reconcile: receipt of %s: %w", tx, redact.Wrap(err))
		}
	}
	ok := receipt != nil && receipt.Status == types.ReceiptStatusSuccessful
	switch pl := pl.(type) {
	case *DepositPayload:
		return f.reconcileDeposit(ctx, pl, resp, receipt, tx)
	case *ClaimPayload:
		if ok {
			resp.Success, resp.Transaction = true, receipt.TxHash.Hex()
			return resp, nil
		}
	case *RefundPayload:
		return f.reconcileRefund(ctx, pl, resp, receipt, tx)
	default:
		return nil, ErrNoSettlementKey
	}
	return f.unmined(ctx, resp, receipt, tx)
}

// unmined is the outcome of a settlement whose transaction did not
// succeed and whose payload was not used by another: pending while tx is,
// else not settled.
func (f *Facilitator) unmined(ctx context.Context, resp *x402.SettleResponse, receipt *types.Receipt, tx string) (*x402.SettleResponse, error) {
	if receipt != nil || tx == "" {
		return nil, x402.ErrNotSettled
	}
	_, isPending, err := f.cfg.Backend.TransactionByHash(ctx, common.HexToHash(tx))
	switch {
	case err == nil && isPending:
		return pendingAnswer(resp, common.HexToHash(tx)), nil
	case err != nil && !errors.Is(err, ethereum.NotFound):
		return nil, fmt.Errorf("evm/batchsettlement: reconcile: looking up %s: %w", tx, redact.Wrap(err))
	}
	return nil, x402.ErrNotSettled
}

// deposited reports whether r is a successful receipt with a Deposited
// event of channel id.
func deposited(r *types.Receipt, id common.Hash) bool {
	if r == nil || r.Status != types.ReceiptStatusSuccessful {
		return false
	}
	_, ok := eventAmount(r, topicDeposited, id)
	return ok
}

func (f *Facilitator) reconcileDeposit(ctx context.Context, d *DepositPayload, resp *x402.SettleResponse, receipt *types.Receipt, tx string) (*x402.SettleResponse, error) {
	cfg := &d.ChannelConfig
	resp.Payer = cfg.Payer.Hex()
	id := ChannelIDWithSeparator(*cfg, f.sep)
	if deposited(receipt, id) {
		return f.depositAnswer(ctx, resp, d, id, receipt.TxHash, nil)
	}
	nonce := ERC3009DepositNonce(id, d.Deposit.Authorization.ERC3009Authorization.Salt)
	used, err := f.readWord(ctx, cfg.Token, packAddressCall(selAuthorizationState, cfg.Payer[:], nonce[:]), nil)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: reconcile: authorizationState: %w", err)
	}
	if used.Sign() == 0 {
		return f.unmined(ctx, resp, receipt, tx)
	}
	// Used: by a deposit into this channel sent by someone else, or by
	// the payer's own use or cancellation of the nonce.
	h, found, err := f.findAuthorizationUse(ctx, cfg.Token, cfg.Payer, nonce)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: reconcile: looking for the deposit: %w", err)
	}
	if found {
		r, err := f.cfg.Backend.TransactionReceipt(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("evm/batchsettlement: reconcile: receipt of %s: %w", h.Hex(), redact.Wrap(err))
		}
		if deposited(r, id) {
			return f.depositAnswer(ctx, resp, d, id, h, nil)
		}
	}
	if receipt != nil {
		resp.Transaction = tx
	}
	resp.ErrorReason, resp.ErrorMessage = x402.ReasonBatchDepositTransactionFailed, "the deposit authorization was used by another transaction or canceled; this deposit was not made"
	return resp, nil
}

// findAuthorizationUse returns the latest transaction of the recent blocks
// that emitted AuthorizationUsed(payer, nonce) on token.
func (f *Facilitator) findAuthorizationUse(ctx context.Context, token, payer common.Address, nonce common.Hash) (common.Hash, bool, error) {
	head, err := f.cfg.Backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return common.Hash{}, false, redact.Wrap(err)
	}
	from := new(big.Int)
	if n := head.Number.Uint64(); n > reconcileLookback {
		from.SetUint64(n - reconcileLookback)
	}
	logs, err := f.cfg.Backend.FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: from, Addresses: []common.Address{token},
		Topics: [][]common.Hash{{topicAuthorizationUsed}, {common.BytesToHash(payer[:])}, {nonce}},
	})
	if err != nil {
		return common.Hash{}, false, redact.Wrap(err)
	}
	for i := len(logs) - 1; i >= 0; i-- {
		if !logs[i].Removed {
			return logs[i].TxHash, true, nil
		}
	}
	return common.Hash{}, false, nil
}

func (f *Facilitator) reconcileRefund(ctx context.Context, r *RefundPayload, resp *x402.SettleResponse, receipt *types.Receipt, tx string) (*x402.SettleResponse, error) {
	cfg := &r.ChannelConfig
	resp.Payer = cfg.Payer.Hex()
	id := ChannelIDWithSeparator(*cfg, f.sep)
	if receipt != nil && receipt.Status == types.ReceiptStatusSuccessful {
		return f.refundAnswer(ctx, resp, r, id, &sendOutcome{tx: receipt.TxHash, receipt: receipt}, nil)
	}
	st, err := f.readState(ctx, id, nil)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: reconcile: %w", err)
	}
	if st.refundNonce.Cmp(*r.RefundNonce) <= 0 {
		return f.unmined(ctx, resp, receipt, tx)
	}
	if receipt != nil {
		resp.Transaction = tx
	}
	resp.ErrorReason, resp.ErrorMessage = x402.ReasonBatchRefundTransactionFailed, "the refund nonce was used by another transaction; this refund was not made"
	return resp, nil
}
