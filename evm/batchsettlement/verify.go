package batchsettlement

import (
	"errors"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// ErrNeedsFacilitator is returned by [ChannelVerifier.Verify] for a
// channel whose payerAuthorizer is the zero address: its vouchers are
// verified against the payer, possibly a smart wallet (EIP-1271), which
// takes a chain call, so the facilitator must verify them.
var ErrNeedsFacilitator = errors.New("evm/batchsettlement: voucher must be verified by the facilitator (payerAuthorizer is zero)")

// ChannelVerifier verifies vouchers of one channel locally, without a
// chain call: the server's hot path. It holds the channel's config (which
// the server already trusts, from its channel store) with its id and the
// domain separator precomputed, so a verification is one Keccak digest and
// one ECDSA recovery. It is immutable and safe for concurrent use; cache
// one per channel.
type ChannelVerifier struct {
	config  ChannelConfig
	chainID uint64
	id      common.Hash
	sep     common.Hash
}

// NewChannelVerifier returns the verifier of the channel cfg on chainID.
func NewChannelVerifier(cfg ChannelConfig, chainID uint64) *ChannelVerifier {
	sep := DomainSeparator(chainID)
	return &ChannelVerifier{config: cfg, chainID: chainID, id: ChannelIDWithSeparator(cfg, sep), sep: sep}
}

// ChannelID returns the channel's id.
func (v *ChannelVerifier) ChannelID() common.Hash { return v.id }

// Config returns the channel's config.
func (v *ChannelVerifier) Config() ChannelConfig { return v.config }

// ChainID returns the chain the verifier is bound to.
func (v *ChannelVerifier) ChainID() uint64 { return v.chainID }

// DomainSeparator returns the separator of the scheme's domain on the
// verifier's chain.
func (v *ChannelVerifier) DomainSeparator() common.Hash { return v.sep }

// LocallyVerifiable reports whether vouchers of this channel can be
// verified locally (its payerAuthorizer is not the zero address).
func (v *ChannelVerifier) LocallyVerifiable() bool {
	return v.config.PayerAuthorizer != (common.Address{})
}

// Expectation is what the server knows of the channel when a voucher
// arrives: its charged cumulative amount, the price of the request, and
// the mirror of the channel's on-chain balance and totalClaimed (for a
// deposit payload, Balance includes the deposit being made).
type Expectation struct {
	// Charged is the channel's chargedCumulativeAmount before this request.
	Charged x402.Amount
	// Price is the request's amount (the requirements' amount); zero for
	// a refund's zero-charge voucher.
	Price x402.Amount
	// Balance and TotalClaimed mirror the contract's channels(channelId).
	Balance      x402.Amount
	TotalClaimed x402.Amount
	// Refund relaxes the claimed check to maxClaimable ≥ totalClaimed, as
	// for a refund's zero-charge voucher.
	Refund bool
}

// Verify checks vo against the channel and e, in the order @x402/evm's
// server does, and returns nil when the voucher pays the request:
//
//  1. vo.ChannelID is this channel's id, else
//     x402.ReasonBatchChannelIDMismatch;
//  2. vo.MaxClaimableAmount == e.Charged + e.Price, else
//     x402.ReasonBatchCumulativeAmountMismatch (answer with a corrective
//     402 carrying channelState and voucherState);
//  3. payerAuthorizer is not zero, else [ErrNeedsFacilitator];
//  4. the signature is a canonical 65-byte ECDSA signature that recovers
//     payerAuthorizer over [VoucherDigest], else
//     x402.ReasonBatchVoucherSignature;
//  5. vo.MaxClaimableAmount ≤ e.Balance, else
//     x402.ReasonBatchCumulativeExceedsBalance;
//  6. vo.MaxClaimableAmount > e.TotalClaimed (≥ for a refund), else
//     x402.ReasonBatchCumulativeBelowClaimed.
//
// Rejections are *x402.Error values. A successful verification allocates
// only inside the signature recovery.
//
// Verify is about the voucher alone. Whether to serve on a channel whose
// payer has requested a withdrawal (withdrawRequestedAt ≠ 0: claim before
// the delay ends, x402 issue #3464), or whose mirrored balance counts a
// deposit that is not yet mined (#2559), is the channel store's policy;
// e.Balance must be a balance the server trusts.
func (v *ChannelVerifier) Verify(vo *Voucher, e *Expectation) error {
	if vo.ChannelID != v.id {
		return errf(x402.ReasonBatchChannelIDMismatch, "voucher is for channel %s, not %s", vo.ChannelID.Hex(), v.id.Hex())
	}
	want, ok := e.Charged.Add(e.Price)
	if !ok || vo.MaxClaimableAmount != want {
		return errf(x402.ReasonBatchCumulativeAmountMismatch, "voucher ceiling %s is not charged %s + price %s", vo.MaxClaimableAmount, e.Charged, e.Price)
	}
	if !v.LocallyVerifiable() {
		return ErrNeedsFacilitator
	}
	if err := v.VerifySignature(vo); err != nil {
		return err
	}
	if vo.MaxClaimableAmount.Cmp(e.Balance) > 0 {
		return errf(x402.ReasonBatchCumulativeExceedsBalance, "voucher ceiling %s exceeds the channel balance %s", vo.MaxClaimableAmount, e.Balance)
	}
	if c := vo.MaxClaimableAmount.Cmp(e.TotalClaimed); c < 0 || (c == 0 && !e.Refund) {
		return errf(x402.ReasonBatchCumulativeBelowClaimed, "voucher ceiling %s is not above the claimed total %s", vo.MaxClaimableAmount, e.TotalClaimed)
	}
	return nil
}

// VerifySignature checks only that vo's signature is a canonical 65-byte
// ECDSA signature by the channel's payerAuthorizer over the voucher's
// digest (for the channel and ceiling vo names). It returns
// [ErrNeedsFacilitator] when payerAuthorizer is zero, and an *x402.Error
// with reason x402.ReasonBatchVoucherSignature otherwise.
func (v *ChannelVerifier) VerifySignature(vo *Voucher) error {
	if !v.LocallyVerifiable() {
		return ErrNeedsFacilitator
	}
	sig, err := evm.SignatureFromBytes(vo.Signature)
	if err != nil {
		return &x402.Error{Reason: x402.ReasonBatchVoucherSignature, Message: "voucher signature", Err: err}
	}
	got, err := evm.RecoverSigner(VoucherDigest(v.sep, vo.ChannelID, vo.MaxClaimableAmount), sig)
	if err != nil {
		return &x402.Error{Reason: x402.ReasonBatchVoucherSignature, Message: "voucher signature", Err: err}
	}
	if got != v.config.PayerAuthorizer {
		return errf(x402.ReasonBatchVoucherSignature, "voucher is signed by %s, not the payer authorizer %s", got.Hex(), v.config.PayerAuthorizer.Hex())
	}
	return nil
}

// CheckRequirements checks that the channel is one the requirements can
// be paid through, in @x402/evm's order (validateChannelConfig): receiver
// == payTo (x402.ReasonBatchReceiverMismatch), receiverAuthorizer ==
// extra.receiverAuthorizer (…ReceiverAuthorizerMismatch), token == asset
// (…TokenMismatch), withdrawDelay == extra.withdrawDelay when announced
// (…WithdrawDelayMismatch) and within bounds (…WithdrawDelayOutOfRange).
// It does not check the network: the verifier's chain is the caller's
// choice. The error is an *x402.Error.
func (v *ChannelVerifier) CheckRequirements(req *x402.PaymentRequirements, extra *RequirementsExtra) error {
	return CheckChannelTerms(&v.config, req, extra)
}

// CheckChannelTerms is [ChannelVerifier.CheckRequirements] for a config.
func CheckChannelTerms(c *ChannelConfig, req *x402.PaymentRequirements, extra *RequirementsExtra) error {
	payTo, ok := addressOf(req.PayTo)
	if !ok || payTo != c.Receiver {
		return errf(x402.ReasonBatchReceiverMismatch, "channel receiver %s is not payTo %.64q", c.Receiver.Hex(), req.PayTo)
	}
	if extra == nil || extra.ReceiverAuthorizer == (common.Address{}) || extra.ReceiverAuthorizer != c.ReceiverAuthorizer {
		return errf(x402.ReasonBatchReceiverAuthorizerMismatch, "channel receiverAuthorizer %s is not the announced one", c.ReceiverAuthorizer.Hex())
	}
	asset, ok := addressOf(req.Asset)
	if !ok || asset != c.Token {
		return errf(x402.ReasonBatchTokenMismatch, "channel token %s is not asset %.64q", c.Token.Hex(), req.Asset)
	}
	if extra.WithdrawDelay != 0 && extra.WithdrawDelay != c.WithdrawDelay {
		return errf(x402.ReasonBatchWithdrawDelayMismatch, "channel withdrawDelay %d is not the announced %d", c.WithdrawDelay, extra.WithdrawDelay)
	}
	if c.WithdrawDelay < MinWithdrawDelay || c.WithdrawDelay > MaxWithdrawDelay {
		return errf(x402.ReasonBatchWithdrawDelayOutOfRange, "channel withdrawDelay %d is outside [%d, %d]", c.WithdrawDelay, MinWithdrawDelay, MaxWithdrawDelay)
	}
	return nil
}

// addressOf parses a 0x-hex address of any case.
func addressOf(s string) (common.Address, bool) {
	var a common.Address
	return a, hexFixed(s, a[:])
}

// BindChannel returns the verifier of the channel p names on chainID,
// after checking that the voucher's channelId is that config's id
// (x402.ReasonBatchChannelIDMismatch otherwise): the first check of any
// payer payload, before the channel is known to the server's store.
func BindChannel(p ChannelPayload, chainID uint64) (*ChannelVerifier, error) {
	v := NewChannelVerifier(*p.Channel(), chainID)
	if got := p.SignedVoucher().ChannelID; got != v.id {
		return nil, errf(x402.ReasonBatchChannelIDMismatch, "voucher names channel %s, the config hashes to %s", got.Hex(), v.id.Hex())
	}
	return v, nil
}

// CheckDepositWindow checks an ERC-3009 deposit authorization's validity
// window at now (unix seconds) as @x402/evm's facilitator does: validBefore
// must be at least 6 seconds ahead (x402.ReasonBatchValidBefore) and
// validAfter not in the future (x402.ReasonBatchValidAfter).
func CheckDepositWindow(a *ERC3009Authorization, now uint64) error {
	if a.ValidBefore.Cmp(x402.NewAmount(now+6)) < 0 {
		return errf(x402.ReasonBatchValidBefore, "deposit authorization expires at %s, before now + 6 s", a.ValidBefore)
	}
	if a.ValidAfter.Cmp(x402.NewAmount(now)) > 0 {
		return errf(x402.ReasonBatchValidAfter, "deposit authorization is valid only after %s", a.ValidAfter)
	}
	return nil
}
