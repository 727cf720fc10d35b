package evm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/x402"
)

// reconcileLookback is how many recent blocks are searched for the event
// that used an authorization (RPC providers limit log ranges; settlements
// being reconciled are recent).
const reconcileLookback = 10_000

// topicAuthorizationUsed is the EIP-3009 AuthorizationUsed event topic.
var topicAuthorizationUsed = crypto.Keccak256Hash([]byte("AuthorizationUsed(address,bytes32)"))

// Identify returns the settlement key of an EIP-3009 payment — (network,
// asset, payer, nonce), lower-case hex — and a fingerprint over everything
// that decides the transfer: network, asset, payTo, amount, the signed
// authorization and the signature.
func (f *ExactFacilitator) Identify(p *x402.Payment) (x402.SettlementKey, string, error) {
	payload, err := decodeExactPayload(p.Payload)
	if err != nil {
		return x402.SettlementKey{}, "", err
	}
	auth, err := decodeAuthorization(payload)
	if err != nil {
		return x402.SettlementKey{}, "", err
	}
	asset, ok := parseAddress(p.Requirements.Asset)
	if !ok {
		return x402.SettlementKey{}, "", fmt.Errorf("evm: asset %q is not an address", p.Requirements.Asset)
	}
	key := x402.SettlementKey{
		Network: p.Requirements.Network,
		Asset:   strings.ToLower(asset.Hex()),
		Payer:   strings.ToLower(auth.From.Hex()),
		Nonce:   hexutil.Encode(auth.Nonce[:]),
	}
	h := sha256.New()
	for _, field := range []string{
		string(p.Requirements.Network), key.Asset, strings.ToLower(p.Requirements.PayTo), p.Requirements.Amount.String(),
		key.Payer, strings.ToLower(auth.To.Hex()), auth.Value.String(), auth.ValidAfter.String(), auth.ValidBefore.String(), key.Nonce,
		normalizedSignature(payload.Signature),
	} {
		h.Write([]byte(field))
		h.Write([]byte{0})
	}
	return key, hex.EncodeToString(h.Sum(nil)), nil
}

// normalizedSignature is the canonical hex of a signature (v as 27/28), so
// that a retry encoding the same signature differently is not mistaken
// for another payment; unparsable input is used as given.
func normalizedSignature(s string) string {
	if sig, err := ParseSignature(s); err == nil {
		return sig.Hex()
	}
	return strings.ToLower(s)
}

// Reconcile finds out from the chain what became of the settlement of key
// (see [x402.Reconciler]). The authorization's on-chain state is the
// authority: if it was used, the settlement succeeded, and the transaction
// is taken from the AuthorizationUsed event (falling back to tx).
func (f *ExactFacilitator) Reconcile(ctx context.Context, p *x402.Payment, key x402.SettlementKey, tx string) (*x402.SettleResponse, error) {
	resp := &x402.SettleResponse{Network: responseNetwork(p), Payer: common.HexToAddress(key.Payer).Hex()}
	asset := common.HexToAddress(key.Asset)
	payer := common.HexToAddress(key.Payer)
	nonceBytes, err := hexutil.Decode(key.Nonce)
	if err != nil || len(nonceBytes) != 32 {
		return nil, fmt.Errorf("evm: reconcile: bad nonce %q", key.Nonce)
	}
	nonce := [32]byte(nonceBytes)

	var receipt *types.Receipt
	if tx != "" {
		receipt, err = f.cfg.Backend.TransactionReceipt(ctx, common.HexToHash(tx))
		if err != nil && !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("evm: reconcile: receipt of %s: %w", tx, err)
		}
	}
	if receipt != nil && receipt.Status == types.ReceiptStatusSuccessful {
		resp.Success, resp.Transaction = true, tx
		return resp, nil
	}
	used, rej, err := f.callUint(ctx, asset, packAuthorizationState(payer, nonce), "authorizationState")
	if err != nil {
		return nil, err
	}
	if rej != nil {
		return nil, fmt.Errorf("evm: reconcile: %s", rej.msg)
	}
	if used.Sign() != 0 {
		// Used on chain: by a transfer (an AuthorizationUsed event, whose
		// transaction moved the funds to the signed recipient) or by the
		// payer's cancelAuthorization (no transfer). Only the event proves
		// a payment; without it, nothing was paid.
		h, found, err := f.findAuthorizationUse(ctx, asset, payer, nonce)
		if err != nil {
			return nil, fmt.Errorf("evm: reconcile: looking for the transfer: %w", err)
		}
		if found {
			resp.Success, resp.Transaction = true, h.Hex()
			return resp, nil
		}
		if receipt != nil {
			resp.Transaction = tx
		}
		resp.ErrorReason, resp.ErrorMessage = x402.ReasonExactEVMNonceAlreadyUsed, "the authorization was canceled or used outside this facilitator; no transfer was found"
		return resp, nil
	}
	if receipt != nil {
		// Mined and reverted, and the authorization is still unused: the
		// transaction can never succeed, and the authorization can still be
		// settled by a new one.
		return nil, x402.ErrNotSettled
	}
	if tx != "" {
		if _, isPending, err := f.cfg.Backend.TransactionByHash(ctx, common.HexToHash(tx)); err == nil && isPending {
			return pending(resp, common.HexToHash(tx)), nil
		} else if err != nil && !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("evm: reconcile: looking up %s: %w", tx, err)
		}
	}
	return nil, x402.ErrNotSettled
}

// findAuthorizationUse returns the transaction that emitted
// AuthorizationUsed(payer, nonce) on asset within the recent blocks the
// node serves. A failed lookup is an error, not "not found".
func (f *ExactFacilitator) findAuthorizationUse(ctx context.Context, asset, payer common.Address, nonce [32]byte) (common.Hash, bool, error) {
	from := new(big.Int)
	head, err := f.cfg.Backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return common.Hash{}, false, err
	}
	if head.Number.Uint64() > reconcileLookback {
		from.SetUint64(head.Number.Uint64() - reconcileLookback)
	}
	logs, err := f.cfg.Backend.FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: from,
		Addresses: []common.Address{asset},
		Topics:    [][]common.Hash{{topicAuthorizationUsed}, {common.BytesToHash(payer[:])}, {common.Hash(nonce)}},
	})
	if err != nil {
		return common.Hash{}, false, err
	}
	for i := len(logs) - 1; i >= 0; i-- {
		if !logs[i].Removed {
			return logs[i].TxHash, true, nil
		}
	}
	return common.Hash{}, false, nil
}
