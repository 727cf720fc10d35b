package evm

import (
	"context"
	"math/big"
	"time"

	"github.com/go402/go402/x402"
)

// VerifyFunds is Verify, also reporting the authorization's key, value
// and expiry (validBefore) and the payer's balance as read for the verify,
// so that a facilitator can hold the funds until the payment settles (see
// [x402.FundsVerifier]). Funds is nil when the verify stopped before the
// balance was read.
func (f *ExactFacilitator) VerifyFunds(ctx context.Context, p *x402.Payment) (*x402.VerifyResponse, *x402.Funds, error) {
	if isPermit2Payload(p) {
		resp, err := f.verifyPermit2(ctx, p) // no funds are reported for Permit2 payments
		return resp, nil, err
	}
	c, rej := f.checkLocal(p)
	if rej == nil {
		var err error
		if rej, err = f.checkChain(ctx, c, !f.cfg.SkipSimulation); err != nil {
			return nil, nil, err
		}
	}
	resp := &x402.VerifyResponse{IsValid: rej == nil}
	if c != nil {
		resp.Payer = c.auth.From.Hex()
	}
	if rej != nil {
		resp.InvalidReason, resp.InvalidMessage = rej.reason, rej.msg
	}
	var funds *x402.Funds
	if c != nil && c.balance != nil && c.auth.ValidBefore.IsInt64() {
		funds = &x402.Funds{
			Key:     exactKey(p.Requirements.Network, c.asset, c.auth),
			Amount:  new(big.Int).Set(c.auth.Value),
			Balance: c.balance,
			Expires: time.Unix(c.auth.ValidBefore.Int64(), 0),
		}
	}
	return resp, funds, nil
}

// FundsReasons returns the exact scheme's insufficient-balance and
// nonce-already-used reasons (see [x402.FundsVerifier]).
func (f *ExactFacilitator) FundsReasons() (insufficient, used x402.Reason) {
	return x402.ReasonExactEVMInsufficientBalance, x402.ReasonExactEVMNonceAlreadyUsed
}

var _ x402.FundsVerifier = (*ExactFacilitator)(nil)
