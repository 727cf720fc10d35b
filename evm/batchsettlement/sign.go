package batchsettlement

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// SignVoucher signs Voucher{channelID, maxClaimableAmount} on chainID with
// s, the channel's payer authorizer, and returns the voucher as a payload
// carries it. maxClaimableAmount must fit a uint128.
func SignVoucher(ctx context.Context, s evm.Signer, chainID uint64, channelID common.Hash, maxClaimableAmount x402.Amount) (Voucher, error) {
	if !fitsUint128(maxClaimableAmount) {
		return Voucher{}, fmt.Errorf("evm/batchsettlement: maxClaimableAmount %s exceeds uint128", maxClaimableAmount)
	}
	sig, err := evm.SignDigest(ctx, s, VoucherDigest(DomainSeparator(chainID), channelID, maxClaimableAmount))
	if err != nil {
		return Voucher{}, fmt.Errorf("evm/batchsettlement: signing voucher: %w", err)
	}
	return Voucher{ChannelID: channelID, MaxClaimableAmount: maxClaimableAmount, Signature: sig[:]}, nil
}

// SignRefund signs Refund{channelID, nonce, amount} on chainID with s, the
// channel's receiver authorizer: the refundAuthorizerSignature of a
// completed refund payload (refundWithSignature's signature).
func SignRefund(ctx context.Context, s evm.Signer, chainID uint64, channelID common.Hash, nonce, amount x402.Amount) (evm.Signature, error) {
	if !fitsUint128(amount) {
		return evm.Signature{}, fmt.Errorf("evm/batchsettlement: refund amount %s exceeds uint128", amount)
	}
	sig, err := evm.SignDigest(ctx, s, RefundDigest(DomainSeparator(chainID), channelID, nonce, amount))
	if err != nil {
		return evm.Signature{}, fmt.Errorf("evm/batchsettlement: signing refund: %w", err)
	}
	return sig, nil
}

// SignClaimBatch signs the ClaimBatch of claims on chainID with s, the
// receiver authorizer shared by every claimed channel: the
// claimAuthorizerSignature of a claim or completed refund payload
// (claimWithSignature's signature). Each row is (channelId of the claim's
// config, its maxClaimableAmount, its totalClaimed), in order.
func SignClaimBatch(ctx context.Context, s evm.Signer, chainID uint64, claims []VoucherClaim) (evm.Signature, error) {
	sep := DomainSeparator(chainID)
	sig, err := evm.SignDigest(ctx, s, ClaimBatchDigest(sep, ClaimEntries(sep, claims)))
	if err != nil {
		return evm.Signature{}, fmt.Errorf("evm/batchsettlement: signing claim batch: %w", err)
	}
	return sig, nil
}

// ClaimEntries returns the ClaimBatch rows of claims.
func ClaimEntries(domainSeparator common.Hash, claims []VoucherClaim) []ClaimEntry {
	entries := make([]ClaimEntry, len(claims))
	for i := range claims {
		entries[i] = claims[i].Entry(domainSeparator)
	}
	return entries
}

// DepositTerms are what a payer's ERC-3009 deposit authorization signs
// besides the channel: the amount and the validity window (unix seconds),
// and the salt that makes the EIP-3009 nonce unique. @x402/evm signs
// validAfter 0, validBefore now + maxTimeoutSeconds and 32 random bytes of
// salt.
type DepositTerms struct {
	Amount      x402.Amount
	ValidAfter  uint64
	ValidBefore uint64
	Salt        common.Hash
}

// ReceiveAuthorization returns the EIP-3009 ReceiveWithAuthorization that a
// deposit into channelID by payer signs: from payer, to the
// ERC3009DepositCollector, value amount, the window, and nonce
// [ERC3009DepositNonce](channelID, salt). It is what @x402/evm 2.27 signs
// (client/eip3009.ts) and what its facilitator verifies.
func ReceiveAuthorization(payer common.Address, channelID common.Hash, amount x402.Amount, validAfter, validBefore x402.Amount, salt common.Hash) *evm.Authorization {
	return &evm.Authorization{
		From:        payer,
		To:          ERC3009Collector(),
		Value:       amount.Big(),
		ValidAfter:  validAfter.Big(),
		ValidBefore: validBefore.Big(),
		Nonce:       ERC3009DepositNonce(channelID, salt),
	}
}

// SignERC3009Deposit signs the deposit authorization of t into the channel
// cfg on chainID, with s, the channel's payer, in token's EIP-712 domain
// (name and version from the requirements' extra, the asset as verifying
// contract).
func SignERC3009Deposit(ctx context.Context, s evm.Signer, token evm.Domain, cfg ChannelConfig, t DepositTerms) (*ERC3009Authorization, error) {
	if s == nil || s.Address() != cfg.Payer {
		return nil, fmt.Errorf("evm/batchsettlement: %w: the deposit must be signed by the channel's payer %s", evm.ErrSignerMismatch, cfg.Payer)
	}
	if !fitsUint128(t.Amount) || t.Amount.IsZero() {
		return nil, fmt.Errorf("evm/batchsettlement: deposit amount %s is zero or exceeds uint128", t.Amount)
	}
	id := ChannelID(cfg, token.ChainID)
	va, vb := x402.NewAmount(t.ValidAfter), x402.NewAmount(t.ValidBefore)
	auth := ReceiveAuthorization(cfg.Payer, id, t.Amount, va, vb, t.Salt)
	digest, err := ReceiveAuthorizationDigest(token.Separator(), auth)
	if err != nil {
		return nil, err
	}
	sig, err := evm.SignDigest(ctx, s, digest)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: signing deposit authorization: %w", err)
	}
	return &ERC3009Authorization{ValidAfter: va, ValidBefore: vb, Salt: t.Salt, Signature: sig[:]}, nil
}

// VerifyERC3009Deposit checks the deposit authorization of p offline: its
// signature recovers the channel's payer over the ReceiveWithAuthorization
// that [ReceiveAuthorization] builds for p's channel (channelID, which the
// caller has checked against the config), amount and salt, in token's
// domain. Only 65-byte EOA signatures are checked; a contract signature is
// refused (x402.ReasonBatchReceiveAuthSignature). It does not check the
// validity window, balances or the chain. The error is an *x402.Error.
func VerifyERC3009Deposit(token evm.Domain, p *DepositPayload, channelID common.Hash) error {
	a := p.Deposit.Authorization.ERC3009Authorization
	if a == nil {
		return errf(x402.ReasonBatchERC3009AuthorizationNeeded, "the deposit has no erc3009Authorization")
	}
	sig, err := evm.SignatureFromBytes(a.Signature)
	if err != nil {
		return &x402.Error{Reason: x402.ReasonBatchReceiveAuthSignature, Message: "deposit authorization signature", Err: err}
	}
	auth := ReceiveAuthorization(p.ChannelConfig.Payer, channelID, p.Deposit.Amount, a.ValidAfter, a.ValidBefore, a.Salt)
	digest, err := ReceiveAuthorizationDigest(token.Separator(), auth)
	if err != nil {
		return &x402.Error{Reason: x402.ReasonBatchDepositPayload, Message: "deposit authorization", Err: err}
	}
	got, err := evm.RecoverSigner(digest, sig)
	if err != nil {
		return &x402.Error{Reason: x402.ReasonBatchReceiveAuthSignature, Message: "deposit authorization signature", Err: err}
	}
	if got != p.ChannelConfig.Payer {
		return errf(x402.ReasonBatchReceiveAuthSignature, "deposit authorization is signed by %s, not the payer %s", got.Hex(), p.ChannelConfig.Payer.Hex())
	}
	return nil
}
