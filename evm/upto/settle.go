package upto

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// Settle transfers the requirements' amount (the amount used, at most the
// permitted maximum) with the proxy's settle. An amount of 0 sends nothing
// and succeeds with transaction "" and amount "0". The outcome is a
// success with the transaction and the amount; a failure with a reason
// (and the transaction when one was mined and reverted); or, when the
// transaction was broadcast but not seen mined in time, settlement_pending
// with its hash. An error means nothing was broadcast and no verdict was
// reached.
func (f *Facilitator) Settle(ctx context.Context, p *x402.Payment, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	resp := &x402.SettleResponse{Network: p.Requirements.Network}
	c, rej := f.checkLocal(p, true)
	if c != nil {
		resp.Payer = c.d.Permit.From.Hex()
	}
	var err error
	if rej == nil {
		rej, err = f.checkSignature(ctx, c)
	}
	amount := p.Requirements.Amount
	if rej == nil && err == nil && amount.IsZero() {
		// Nothing used, nothing moved: the authorization expires unused.
		resp.Success, resp.Amount = true, &amount
		f.log.Info("upto settlement of 0: nothing sent", "payer", resp.Payer)
		return resp, nil
	}
	if rej == nil && err == nil {
		// Gas estimation simulates the settlement: no eth_call here.
		rej, err = f.checkChain(ctx, c, amount.Big(), false)
	}
	if err != nil {
		return nil, err
	}
	if rej != nil {
		resp.ErrorReason, resp.ErrorMessage = rej.reason, rej.msg
		return resp, nil
	}
	if c.sig.Deploy != nil {
		rej, err := f.deployWallet(ctx, c.sig.Deploy)
		if err != nil {
			return nil, err
		}
		if rej != nil {
			resp.ErrorReason, resp.ErrorMessage = rej.reason, rej.msg
			return resp, nil
		}
	}
	return f.send(ctx, c, amount, resp, hooks)
}

// send broadcasts the proxy's settle of amount and waits for its receipt.
func (f *Facilitator) send(ctx context.Context, c *checked, amount x402.Amount, resp *x402.SettleResponse, hooks x402.SettleHooks) (*x402.SettleResponse, error) {
	var hook evm.BeforeBroadcast
	if hooks.BeforeBroadcast != nil {
		hook = func(ctx context.Context, tx *types.Transaction) error {
			return hooks.BeforeBroadcast(ctx, tx.Hash().Hex())
		}
	}
	pm := &c.d.Permit
	data, err := settleCalldata(pm, amount.Big(), c.sig.Signature, c.sponsor)
	if err != nil {
		resp.ErrorReason, resp.ErrorMessage = x402.ReasonInvalidPayload, err.Error()
		return resp, nil
	}
	tx, err := f.cfg.Sender.SendWithHook(ctx, ProxyAddress(), data, hook)
	if rev := evm.AsRevert(err); rev != nil {
		resp.ErrorReason, resp.ErrorMessage = reasonForRevert(rev), "the proxy refused the settlement: "+rev.Error()
		return resp, nil
	}
	if tx != nil && errors.Is(err, evm.ErrSendUnknown) {
		f.log.Warn("upto settlement broadcast outcome unknown", "tx", tx.Hash(), "err", err)
		return pending(resp, tx.Hash().Hex()), nil
	}
	if err != nil {
		return nil, fmt.Errorf("evm/upto: settlement not sent: %w", err)
	}
	f.log.Info("upto settlement sent", "tx", tx.Hash(), "payer", resp.Payer, "amount", amount.String(), "max", pm.Amount)
	receipt, err := f.cfg.Sender.WaitReceipt(ctx, tx.Hash())
	switch {
	case receipt == nil || (err != nil && !errors.Is(err, evm.ErrTxReverted)):
		f.log.Warn("upto settlement pending", "tx", tx.Hash(), "err", err)
		return pending(resp, tx.Hash().Hex()), nil
	case receipt.Status != types.ReceiptStatusSuccessful:
		resp.Transaction = tx.Hash().Hex()
		resp.ErrorReason, resp.ErrorMessage = x402.ReasonUptoTransactionFailed, "the settlement transaction was mined but reverted"
		return resp, nil
	}
	resp.Success, resp.Transaction, resp.Amount = true, tx.Hash().Hex(), &amount
	return resp, nil
}

// deployWallet deploys the payer's counterfactual (ERC-6492) wallet with
// its factory call, so that Permit2 can check its signature. It moves no
// funds, and a wallet deployed meanwhile makes it a no-op for the
// settlement, so it is sent without the settlement's ledger hook.
func (f *Facilitator) deployWallet(ctx context.Context, w *evm.ERC6492Signature) (*rejection, error) {
	tx, err := f.cfg.Sender.Send(ctx, w.Factory, w.FactoryCalldata)
	if rev := evm.AsRevert(err); rev != nil {
		return reject(x402.ReasonSmartWalletDeploymentFailed, "the wallet factory reverted: %s", rev.Error()), nil
	}
	if err != nil {
		return nil, fmt.Errorf("evm/upto: deploying the payer's wallet: %w", err)
	}
	r, err := f.cfg.Sender.WaitReceipt(ctx, tx.Hash())
	if err != nil || r.Status != types.ReceiptStatusSuccessful {
		return reject(x402.ReasonSmartWalletDeploymentFailed, "the wallet deployment %s did not succeed: %v", tx.Hash().Hex(), err), nil
	}
	return nil, nil
}

func pending(resp *x402.SettleResponse, tx string) *x402.SettleResponse {
	resp.Transaction = tx
	resp.ErrorReason = x402.ReasonSettlementPending
	resp.ErrorMessage = "the settlement transaction was broadcast but is not confirmed yet; do not pay again"
	return resp
}

// Identify returns the settle-once key of an upto payment — (network,
// asset, payer, Permit2 nonce) — and a fingerprint of everything that
// decides its transfer: the resource, the requirements (with the amount to
// settle), the signed permit and the signature. A second /settle of one
// authorization for another amount is therefore another payment with the
// same key: go402's facilitator refuses it (duplicate_settlement) rather
// than move funds twice.
func (f *Facilitator) Identify(p *x402.Payment) (x402.SettlementKey, string, error) {
	d, err := decode(p)
	if err != nil {
		return x402.SettlementKey{}, "", err
	}
	pm := &d.Permit
	resource := ""
	if p.Resource != nil {
		resource = p.Resource.URL
	}
	k := key(p.Requirements.Network, pm)
	sponsor := ""
	if g, err := permit2.ParseGasSponsoring(p.Extensions); err == nil && g != nil {
		sponsor = fmt.Sprintf("%s|%s|%s|%x", g.Permit.Value, g.Permit.Nonce, g.Permit.Deadline, g.Signature[:])
	}
	h := sha256.New()
	for _, field := range []string{
		resource, string(p.Requirements.Network), strings.ToLower(p.Requirements.Asset), strings.ToLower(p.Requirements.PayTo),
		p.Requirements.Amount.String(), k.Payer, k.Asset, pm.Amount.String(), pm.Spender.Hex(), k.Nonce, pm.Deadline.String(),
		pm.To.Hex(), pm.Facilitator.Hex(), pm.ValidAfter.String(), hex.EncodeToString(d.Signature), sponsor,
	} {
		h.Write([]byte(field))
		h.Write([]byte{0})
	}
	return k, hex.EncodeToString(h.Sum(nil)), nil
}

var (
	_ x402.SchemeFacilitator = (*Facilitator)(nil)
	_ x402.Identifier        = (*Facilitator)(nil)
	_ x402.FundsVerifier     = (*Facilitator)(nil)
)
