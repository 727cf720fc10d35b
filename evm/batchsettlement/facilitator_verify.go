package batchsettlement

import (
	"context"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// depositCheck is the outcome of verifying a deposit: a refusal, or the
// channel's mined state before the deposit.
type depositCheck struct {
	rej   *x402.Error
	state ChannelState
	pre   chainState
	id    common.Hash
}

// checkChannel runs @x402/evm's validateChannelConfig: the voucher's
// channelId is the config's, and the config is one the requirements can be
// paid through. It returns the channel id.
func (f *Facilitator) checkChannel(req *x402.PaymentRequirements, cfg *ChannelConfig, voucherChannel common.Hash) (common.Hash, *x402.Error) {
	id := ChannelIDWithSeparator(*cfg, f.sep)
	if id != voucherChannel {
		return id, errf(x402.ReasonBatchChannelIDMismatch, "voucher names channel %s, the config's id is %s", voucherChannel.Hex(), id.Hex())
	}
	extra, err := ParseRequirementsExtra(req.Extra)
	if err != nil {
		// No announced receiverAuthorizer: no channel can match.
		return id, &x402.Error{Reason: x402.ReasonBatchReceiverAuthorizerMismatch, Message: "requirements extra names no receiverAuthorizer", Err: err}
	}
	if err := CheckChannelTerms(cfg, req, extra); err != nil {
		return id, asXError(err, x402.ReasonBatchDepositPayload)
	}
	if err := cfg.Validate(); err != nil {
		return id, asXError(err, x402.ReasonBatchDepositPayload)
	}
	return id, nil
}

// checkVoucherSignature verifies v against the channel's payerAuthorizer,
// or against the payer itself when payerAuthorizer is zero (EOA payers
// only: a smart-wallet payer's EIP-1271 signature is refused).
func (f *Facilitator) checkVoucherSignature(cfg *ChannelConfig, v *Voucher) *x402.Error {
	signer := cfg.PayerAuthorizer
	if signer == (common.Address{}) {
		signer = cfg.Payer
	}
	sig, err := evm.SignatureFromBytes(v.Signature)
	if err != nil {
		return &x402.Error{Reason: x402.ReasonBatchVoucherSignature, Message: "voucher signature is not a 65-byte ECDSA signature", Err: err}
	}
	got, err := evm.RecoverSigner(VoucherDigest(f.sep, v.ChannelID, v.MaxClaimableAmount), sig)
	if err != nil || got != signer {
		return errf(x402.ReasonBatchVoucherSignature, "voucher is not signed by %s", signer.Hex())
	}
	return nil
}

// verifyDeposit checks a deposit in @x402/evm's order: the channel, the
// ERC-3009 authorization (domain, validity window, signature), the
// voucher's signature, the chain (payer's token balance ≥ deposit, voucher
// ≤ channel balance + deposit, voucher > claimed) and, if simulate, a
// simulated deposit.
func (f *Facilitator) verifyDeposit(ctx context.Context, p *x402.Payment, d *DepositPayload, simulate bool) (depositCheck, error) {
	req := &p.Requirements
	id, rej := f.checkChannel(req, &d.ChannelConfig, d.Voucher.ChannelID)
	if rej != nil {
		return depositCheck{rej: rej, id: id}, nil
	}
	out := depositCheck{id: id}
	if rej := f.checkAuthorization(req, d, id); rej != nil {
		out.rej = rej
		return out, nil
	}
	if rej := f.checkVoucherSignature(&d.ChannelConfig, &d.Voucher); rej != nil {
		out.rej = rej
		return out, nil
	}
	head, err := f.cfg.Backend.HeaderByNumber(ctx, nil)
	if err != nil {
		return out, err
	}
	pre, err := f.readState(ctx, id, head.Number)
	if err != nil {
		out.rej, err = readFailure(err, "the channel")
		return out, err
	}
	out.pre, out.state = pre, pre.snapshot(id)
	cfg := &d.ChannelConfig
	bal, err := f.readWord(ctx, cfg.Token, packAddressCall(selBalanceOf, cfg.Payer[:]), head.Number)
	if err != nil {
		out.rej, err = readFailure(err, "the payer's token balance")
		return out, err
	}
	amount := d.Deposit.Amount
	if bal.Cmp(amount.Big()) < 0 {
		out.rej = errf(x402.ReasonBatchInsufficientBalance, "payer balance %s is less than the deposit %s", bal, amount)
		return out, nil
	}
	if rej := checkCeiling(&d.Voucher, pre, amount, false); rej != nil {
		out.rej = rej
		return out, nil
	}
	if !simulate {
		return out, nil
	}
	out.rej, err = f.simulate(ctx, d, x402.ReasonBatchDepositSimulationFailed)
	return out, err
}

// checkAuthorization checks the deposit's ERC-3009 authorization offline:
// transfer method, the token's EIP-712 domain in the extra, the validity
// window and the payer's signature.
func (f *Facilitator) checkAuthorization(req *x402.PaymentRequirements, d *DepositPayload, id common.Hash) *x402.Error {
	extra, _ := ParseRequirementsExtra(req.Extra) // checked by checkChannel
	if extra.AssetTransferMethod != "" && extra.AssetTransferMethod != TransferEIP3009 {
		return errf(x402.ReasonBatchPayloadType, "transfer method %.20q is not supported; only %q", extra.AssetTransferMethod, TransferEIP3009)
	}
	if extra.Name == "" || extra.Version == "" {
		return errf(x402.ReasonBatchMissingEIP712Domain, "requirements extra must name the token's EIP-712 domain (name and version)")
	}
	a := d.Deposit.Authorization.ERC3009Authorization
	now := f.cfg.Now()
	if a.ValidBefore.Cmp(x402.NewAmount(uint64(now.Add(f.cfg.ValidBeforeMargin).Unix()))) < 0 {
		return errf(x402.ReasonBatchValidBefore, "deposit authorization expires at %s, less than %s from now", a.ValidBefore, f.cfg.ValidBeforeMargin)
	}
	if a.ValidAfter.Cmp(x402.NewAmount(uint64(now.Unix()))) > 0 {
		return errf(x402.ReasonBatchValidAfter, "deposit authorization is not valid until %s", a.ValidAfter)
	}
	token := evm.Domain{Name: extra.Name, Version: extra.Version, ChainID: f.chainID, VerifyingContract: d.ChannelConfig.Token}
	if err := VerifyERC3009Deposit(token, d, id); err != nil {
		return asXError(err, x402.ReasonBatchReceiveAuthSignature)
	}
	return nil
}

// checkCeiling checks a voucher against the mined channel state plus a
// deposit being made: ceiling ≤ balance + deposit, and ceiling above the
// claimed total (at or above for a refund's zero-charge voucher).
func checkCeiling(v *Voucher, st chainState, deposit x402.Amount, refund bool) *x402.Error {
	effective, ok := st.balance.Add(deposit)
	if ok && v.MaxClaimableAmount.Cmp(effective) > 0 {
		return errf(x402.ReasonBatchCumulativeExceedsBalance, "voucher ceiling %s exceeds the channel balance %s", v.MaxClaimableAmount, effective)
	}
	if c := v.MaxClaimableAmount.Cmp(st.totalClaimed); c < 0 || (c == 0 && !refund) {
		return errf(x402.ReasonBatchCumulativeBelowClaimed, "voucher ceiling %s is not above the claimed total %s", v.MaxClaimableAmount, st.totalClaimed)
	}
	return nil
}

// simulate runs the deposit as an eth_call from the facilitator's sender.
func (f *Facilitator) simulate(ctx context.Context, d *DepositPayload, reason x402.Reason) (*x402.Error, error) {
	data, err := EncodeDeposit(d)
	if err != nil {
		return asXError(err, x402.ReasonBatchDepositPayload), nil
	}
	return f.simulateCall(ctx, data, reason)
}

// simulateCall runs data against the settlement contract as an eth_call
// from the facilitator's sender: a revert is a refusal with reason.
func (f *Facilitator) simulateCall(ctx context.Context, data []byte, reason x402.Reason) (*x402.Error, error) {
	to := SettlementContract()
	msg := ethereum.CallMsg{To: &to, Data: data}
	if f.cfg.Sender != nil {
		msg.From = f.cfg.Sender.Address()
	}
	_, err := f.cfg.Backend.CallContract(ctx, msg, nil)
	if rev := evm.AsRevert(err); rev != nil {
		return errf(reason, "simulation reverted: %s", rev.Error()), nil
	}
	return nil, err
}

// verifyVoucher checks a voucher or refund payload (@x402/evm's
// verifyVoucher): the channel, the voucher's signature, then the mined
// channel: it exists (balance > 0), the ceiling is within its balance and
// above its claimed total (at or above for a refund).
func (f *Facilitator) verifyVoucher(ctx context.Context, p *x402.Payment, cfg *ChannelConfig, v *Voucher, refund bool) (*x402.VerifyResponse, error) {
	payer := cfg.Payer.Hex()
	id, rej := f.checkChannel(&p.Requirements, cfg, v.ChannelID)
	if rej == nil {
		rej = f.checkVoucherSignature(cfg, v)
	}
	if rej != nil {
		return invalid(rej, payer), nil
	}
	st, err := f.readState(ctx, id, nil)
	if err != nil {
		rej, err := readFailure(err, "the channel")
		if err != nil {
			return nil, err
		}
		return invalid(rej, payer), nil
	}
	if st.balance.IsZero() {
		return invalid(errf(x402.ReasonBatchChannelNotFound, "channel %s holds nothing on chain", id.Hex()), payer), nil
	}
	if rej := checkCeiling(v, st, x402.Amount{}, refund); rej != nil {
		return invalid(rej, payer), nil
	}
	return f.valid(cfg.Payer, st.snapshot(id))
}
