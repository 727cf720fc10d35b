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
// authorization and the signature, and over the resource paid for. The
// resource is not signed by the payer, so one authorization presented for
// two resources with the same price and payTo would otherwise settle once
// and answer both as paid; with it, the second gets duplicate_settlement.
func (f *ExactFacilitator) Identify(p *x402.Payment) (x402.SettlementKey, string, error) {
	if isPermit2Payload(p) {
		return identifyPermit2Settlement(p)
	}
	d, err := decodeExact(p)
	if err != nil {
		return x402.SettlementKey{}, "", err
	}
	asset, ok := hexAddress(p.Requirements.Asset)
	if !ok {
		return x402.SettlementKey{}, "", fmt.Errorf("evm: asset %q is not an address", p.Requirements.Asset)
	}
	auth := d.auth
	key := exactKey(p.Requirements.Network, asset, auth)
	resource := ""
	if p.Resource != nil {
		resource = p.Resource.URL
	}
	h := sha256.New()
	for _, field := range []string{
		resource,
		string(p.Requirements.Network), key.Asset, strings.ToLower(p.Requirements.PayTo), p.Requirements.Amount.String(),
		key.Payer, strings.ToLower(auth.To.Hex()), auth.Value.String(), auth.ValidAfter.String(), auth.ValidBefore.String(), key.Nonce,
		d.signatureText(),
	} {
		h.Write([]byte(field))
		h.Write([]byte{0})
	}
	return key, hex.EncodeToString(h.Sum(nil)), nil
}

// Reconcile finds out from the chain what became of the settlement of key
// (see [x402.Reconciler]). A payment counts as made only when a successful
// transaction shows the token using the authorization together with the
// transfer of the required amount from the payer to payTo: the recorded
// transaction tx if it does, else the one that used the authorization
// (found through its AuthorizationUsed event).
func (f *ExactFacilitator) Reconcile(ctx context.Context, p *x402.Payment, key x402.SettlementKey, tx string) (*x402.SettleResponse, error) {
	if isPermit2Payload(p) {
		return f.reconcilePermit2(ctx, p, key, tx)
	}
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
	want := transferOf{asset: asset, payer: payer, payTo: common.HexToAddress(p.Requirements.PayTo), value: p.Requirements.Amount.Big(), nonce: nonce}
	if receipt != nil && receipt.Status == types.ReceiptStatusSuccessful {
		paid := want.paidIn(receipt)
		if !paid {
			// A token that emits no AuthorizationUsed event: our own
			// successful transferWithAuthorization call of this very
			// authorization is the proof.
			sent, _, err := f.cfg.Backend.TransactionByHash(ctx, receipt.TxHash)
			if err != nil {
				return nil, fmt.Errorf("evm: reconcile: looking up %s: %w", tx, err)
			}
			paid = want.calledBy(sent)
		}
		if paid {
			resp.Success, resp.Transaction = true, tx
			return resp, nil
		}
	}
	used, rej, err := f.callUint(ctx, asset, packAuthorizationState(payer, nonce), "authorizationState")
	if err != nil {
		return nil, err
	}
	if rej != nil {
		return nil, fmt.Errorf("evm: reconcile: %s", rej.msg)
	}
	if used.Sign() != 0 {
		return f.reconcileUsed(ctx, resp, want, receipt, tx)
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

// reconcileUsed is Reconcile for an authorization the chain shows used: it
// was paid only if a transaction shows this transfer with the use.
func (f *ExactFacilitator) reconcileUsed(ctx context.Context, resp *x402.SettleResponse, want transferOf, receipt *types.Receipt, tx string) (*x402.SettleResponse, error) {
	// Used on chain: by a transfer of this payment, by another
	// authorization the payer signed with the same nonce (say, to
	// themselves), or by the payer's cancelAuthorization. Only a
	// transaction whose AuthorizationUsed event comes with the transfer
	// of the required amount from the payer to payTo proves this
	// payment; anything else means it was not paid.
	h, found, err := f.findAuthorizationUse(ctx, want.asset, want.payer, want.nonce)
	if err != nil {
		return nil, fmt.Errorf("evm: reconcile: looking for the transfer: %w", err)
	}
	if found {
		r, err := f.cfg.Backend.TransactionReceipt(ctx, h)
		if err != nil {
			return nil, fmt.Errorf("evm: reconcile: receipt of %s: %w", h.Hex(), err)
		}
		if r.Status == types.ReceiptStatusSuccessful && want.paidIn(r) {
			resp.Success, resp.Transaction = true, h.Hex()
			return resp, nil
		}
	}
	if receipt != nil {
		resp.Transaction = tx
	}
	resp.ErrorReason, resp.ErrorMessage = x402.ReasonExactEVMNonceAlreadyUsed, "the authorization nonce was used by another transfer or canceled; this payment was not made"
	return resp, nil
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

// topicTransfer is the ERC-20 Transfer event topic.
var topicTransfer = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))

// transferOf is one payment as the chain must show it: asset moved value
// from payer to payTo under the authorization nonce.
type transferOf struct {
	asset, payer, payTo common.Address
	value               *big.Int
	nonce               [32]byte
}

// paidIn reports whether receipt proves the payment: the token's
// AuthorizationUsed(payer, nonce) event immediately followed by its
// Transfer(payer, payTo, value) event, the order in which EIP-3009 tokens
// (USDC's FiatToken, go402's test token) emit them in one
// transferWithAuthorization. The event alone is not enough: the payer may
// have used the nonce for another authorization. Nor is a matching Transfer
// just before it, which belongs to the previous call of the same
// transaction.
func (t transferOf) paidIn(receipt *types.Receipt) bool {
	for i, l := range receipt.Logs {
		if t.isAuthorizationUsed(l) && i+1 < len(receipt.Logs) && t.isTransfer(receipt.Logs[i+1]) {
			return true
		}
	}
	return false
}

func (t transferOf) isAuthorizationUsed(l *types.Log) bool {
	return l.Address == t.asset && !l.Removed && len(l.Topics) == 3 && l.Topics[0] == topicAuthorizationUsed &&
		l.Topics[1] == common.BytesToHash(t.payer[:]) && l.Topics[2] == common.Hash(t.nonce)
}

func (t transferOf) isTransfer(l *types.Log) bool {
	return l.Address == t.asset && !l.Removed && len(l.Topics) == 3 && l.Topics[0] == topicTransfer &&
		l.Topics[1] == common.BytesToHash(t.payer[:]) && l.Topics[2] == common.BytesToHash(t.payTo[:]) &&
		len(l.Data) == 32 && new(big.Int).SetBytes(l.Data).Cmp(t.value) == 0
}

// calledBy reports whether tx calls the asset's transferWithAuthorization
// (either overload) with this payment's payer, payTo, value and nonce.
func (t transferOf) calledBy(tx *types.Transaction) bool {
	d := tx.Data()
	if tx.To() == nil || *tx.To() != t.asset || len(d) < 4+8*32 {
		return false
	}
	switch [4]byte(d[:4]) {
	case selTransferWithAuthorization:
		if len(d) != 4+9*32 {
			return false
		}
	case selTransferWithAuthorizationBytes: // a smart wallet's payment
	default:
		return false
	}
	w := d[4:]
	return common.BytesToAddress(w[0:32]) == t.payer && common.BytesToAddress(w[32:64]) == t.payTo &&
		new(big.Int).SetBytes(w[64:96]).Cmp(t.value) == 0 && [32]byte(w[160:192]) == t.nonce
}
