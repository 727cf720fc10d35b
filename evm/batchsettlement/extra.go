package batchsettlement

import (
	"encoding/json"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/x402"
)

// ChannelState is a snapshot of a channel as a server or facilitator
// reports it: in a corrective 402 (extra.channelState), in a
// PAYMENT-RESPONSE (extra.channelState), and in a facilitator's /verify
// extra (the same fields at the top level, without chargedCumulativeAmount).
//
// On the wire (as @x402/evm writes it): channelId 0x-hex, balance and
// totalClaimed decimal strings, withdrawRequestedAt a JSON number,
// refundNonce a decimal string, chargedCumulativeAmount a decimal string.
// Every field is optional when reading, because @x402/evm can send partial
// snapshots (its server merges {chargedCumulativeAmount} into whatever
// snapshot the facilitator returned); Has* say which were present. Reading
// accepts withdrawRequestedAt and refundNonce as a number or a string, as
// @x402/evm does.
type ChannelState struct {
	ChannelID               common.Hash
	Balance                 x402.Amount
	TotalClaimed            x402.Amount
	WithdrawRequestedAt     uint64 // unix seconds, 0 when none
	RefundNonce             x402.Amount
	ChargedCumulativeAmount x402.Amount

	HasChannelID, HasBalance, HasTotalClaimed, HasWithdrawRequestedAt, HasRefundNonce, HasCharged bool
}

// NewChannelState returns a full snapshot, every field present.
func NewChannelState(id common.Hash, balance, totalClaimed x402.Amount, withdrawRequestedAt uint64, refundNonce, charged x402.Amount) ChannelState {
	return ChannelState{
		ChannelID: id, Balance: balance, TotalClaimed: totalClaimed, WithdrawRequestedAt: withdrawRequestedAt,
		RefundNonce: refundNonce, ChargedCumulativeAmount: charged,
		HasChannelID: true, HasBalance: true, HasTotalClaimed: true, HasWithdrawRequestedAt: true, HasRefundNonce: true, HasCharged: true,
	}
}

type channelStateJSON struct {
	ChannelID               string       `json:"channelId,omitempty"`
	Balance                 *x402.Amount `json:"balance,omitempty"`
	TotalClaimed            *x402.Amount `json:"totalClaimed,omitempty"`
	WithdrawRequestedAt     *uint64      `json:"withdrawRequestedAt,omitempty"`
	RefundNonce             *x402.Amount `json:"refundNonce,omitempty"`
	ChargedCumulativeAmount *x402.Amount `json:"chargedCumulativeAmount,omitempty"`
}

// MarshalJSON writes the fields that are present.
func (s ChannelState) MarshalJSON() ([]byte, error) {
	return appendChannelState(make([]byte, 0, 256), &s), nil
}

// UnmarshalJSON reads a snapshot; absent fields stay zero with Has* false.
func (s *ChannelState) UnmarshalJSON(b []byte) error {
	var w struct {
		ChannelID               json.RawMessage `json:"channelId"`
		Balance                 json.RawMessage `json:"balance"`
		TotalClaimed            json.RawMessage `json:"totalClaimed"`
		WithdrawRequestedAt     json.RawMessage `json:"withdrawRequestedAt"`
		RefundNonce             json.RawMessage `json:"refundNonce"`
		ChargedCumulativeAmount json.RawMessage `json:"chargedCumulativeAmount"`
	}
	if err := unmarshalObject(b, &w, "channelState"); err != nil {
		return err
	}
	var out ChannelState
	var err error
	if out.HasChannelID = !isNull(w.ChannelID); out.HasChannelID {
		if out.ChannelID, err = hashField(w.ChannelID, "channelState.channelId"); err != nil {
			return err
		}
	}
	if out.HasBalance = !isNull(w.Balance); out.HasBalance {
		if out.Balance, err = amount128Field(w.Balance, "channelState.balance"); err != nil {
			return err
		}
	}
	if out.HasTotalClaimed = !isNull(w.TotalClaimed); out.HasTotalClaimed {
		if out.TotalClaimed, err = amount128Field(w.TotalClaimed, "channelState.totalClaimed"); err != nil {
			return err
		}
	}
	if out.HasWithdrawRequestedAt = !isNull(w.WithdrawRequestedAt); out.HasWithdrawRequestedAt {
		a, err := flexUintField(w.WithdrawRequestedAt, "channelState.withdrawRequestedAt")
		if err != nil {
			return err
		}
		n, ok := a.Uint64()
		if !ok {
			return &fieldError{field: "channelState.withdrawRequestedAt", msg: "out of range"}
		}
		out.WithdrawRequestedAt = n
	}
	if out.HasRefundNonce = !isNull(w.RefundNonce); out.HasRefundNonce {
		if out.RefundNonce, err = flexUintField(w.RefundNonce, "channelState.refundNonce"); err != nil {
			return err
		}
	}
	if out.HasCharged = !isNull(w.ChargedCumulativeAmount); out.HasCharged {
		if out.ChargedCumulativeAmount, err = amount128Field(w.ChargedCumulativeAmount, "channelState.chargedCumulativeAmount"); err != nil {
			return err
		}
	}
	*s = out
	return nil
}

// VoucherState is the last voucher a server holds for a channel, sent in a
// corrective 402 (extra.voucherState) so that a payer that lost its state
// can check its own signature before adopting the server's charged total.
type VoucherState struct {
	SignedMaxClaimable x402.Amount
	Signature          []byte
}

type voucherStateJSON struct {
	SignedMaxClaimable x402.Amount `json:"signedMaxClaimable"`
	Signature          string      `json:"signature"`
}

// MarshalJSON writes {signedMaxClaimable, signature}.
func (v VoucherState) MarshalJSON() ([]byte, error) {
	return json.Marshal(voucherStateJSON{SignedMaxClaimable: v.SignedMaxClaimable, Signature: hexutil.Encode(v.Signature)})
}

// UnmarshalJSON reads {signedMaxClaimable, signature}, both required.
func (v *VoucherState) UnmarshalJSON(b []byte) error {
	var w struct {
		SignedMaxClaimable json.RawMessage `json:"signedMaxClaimable"`
		Signature          json.RawMessage `json:"signature"`
	}
	if err := unmarshalObject(b, &w, "voucherState"); err != nil {
		return err
	}
	var out VoucherState
	var err error
	if out.SignedMaxClaimable, err = amount128Field(w.SignedMaxClaimable, "voucherState.signedMaxClaimable"); err != nil {
		return err
	}
	if out.Signature, err = bytesField(w.Signature, "voucherState.signature"); err != nil {
		return err
	}
	*v = out
	return nil
}

// RequirementsExtra is the extra of batch-settlement payment requirements.
//
// withdrawDelay is a JSON number on the wire (the official client ignores
// a string and assumes 900); minDeposit a decimal string. ChannelState and
// VoucherState appear only in a corrective 402.
type RequirementsExtra struct {
	ReceiverAuthorizer common.Address
	WithdrawDelay      uint64 // 0 when absent
	// Name and Version are the token's EIP-712 domain.
	Name, Version string
	// AssetTransferMethod is "" (eip3009), TransferEIP3009 or TransferPermit2.
	AssetTransferMethod string
	MinDeposit          *x402.Amount
	ChannelState        *ChannelState
	VoucherState        *VoucherState
}

type requirementsExtraJSON struct {
	ReceiverAuthorizer  string        `json:"receiverAuthorizer"`
	WithdrawDelay       uint64        `json:"withdrawDelay"`
	Name                string        `json:"name,omitempty"`
	Version             string        `json:"version,omitempty"`
	AssetTransferMethod string        `json:"assetTransferMethod,omitempty"`
	MinDeposit          *x402.Amount  `json:"minDeposit,omitempty"`
	ChannelState        *ChannelState `json:"channelState,omitempty"`
	VoucherState        *VoucherState `json:"voucherState,omitempty"`
}

// MarshalJSON writes the wire form (receiverAuthorizer checksummed).
func (e RequirementsExtra) MarshalJSON() ([]byte, error) {
	return json.Marshal(requirementsExtraJSON{
		ReceiverAuthorizer: e.ReceiverAuthorizer.Hex(), WithdrawDelay: e.WithdrawDelay, Name: e.Name, Version: e.Version,
		AssetTransferMethod: e.AssetTransferMethod, MinDeposit: e.MinDeposit, ChannelState: e.ChannelState, VoucherState: e.VoucherState,
	})
}

// Object returns the extra as an x402.Object.
func (e RequirementsExtra) Object() (x402.Object, error) { return x402.NewObject(e) }

// ParseRequirementsExtra reads the extra of batch-settlement requirements.
// receiverAuthorizer is required and non-zero, withdrawDelay (when present)
// a JSON integer; other keys are ignored. The error is an *x402.Error with
// reason x402.ReasonInvalidPaymentRequirements.
func ParseRequirementsExtra(o x402.Object) (*RequirementsExtra, error) {
	var w struct {
		ReceiverAuthorizer  json.RawMessage `json:"receiverAuthorizer"`
		WithdrawDelay       json.RawMessage `json:"withdrawDelay"`
		Name                json.RawMessage `json:"name"`
		Version             json.RawMessage `json:"version"`
		AssetTransferMethod json.RawMessage `json:"assetTransferMethod"`
		MinDeposit          json.RawMessage `json:"minDeposit"`
		ChannelState        *ChannelState   `json:"channelState"`
		VoucherState        *VoucherState   `json:"voucherState"`
	}
	bad := func(err error) error {
		return &x402.Error{Reason: x402.ReasonInvalidPaymentRequirements, Message: "batch-settlement extra", Err: err}
	}
	if o.IsNull() {
		return nil, bad(missing("extra"))
	}
	if err := o.Decode(&w); err != nil {
		return nil, bad(err)
	}
	e := &RequirementsExtra{ChannelState: w.ChannelState, VoucherState: w.VoucherState}
	var err error
	if e.ReceiverAuthorizer, err = addressField(w.ReceiverAuthorizer, "extra.receiverAuthorizer"); err != nil {
		return nil, bad(err)
	}
	if e.ReceiverAuthorizer == (common.Address{}) {
		return nil, bad(&fieldError{field: "extra.receiverAuthorizer", msg: "is the zero address"})
	}
	if !isNull(w.WithdrawDelay) {
		if e.WithdrawDelay, err = numberField(w.WithdrawDelay, "extra.withdrawDelay", maxUint40); err != nil {
			return nil, bad(err)
		}
	}
	for _, f := range []struct {
		raw json.RawMessage
		dst *string
		key string
	}{{w.Name, &e.Name, "extra.name"}, {w.Version, &e.Version, "extra.version"}, {w.AssetTransferMethod, &e.AssetTransferMethod, "extra.assetTransferMethod"}} {
		if !isNull(f.raw) {
			if *f.dst, err = stringField(f.raw, f.key); err != nil {
				return nil, bad(err)
			}
		}
	}
	if !isNull(w.MinDeposit) {
		a, err := amountField(w.MinDeposit, "extra.minDeposit")
		if err != nil {
			return nil, bad(err)
		}
		e.MinDeposit = &a
	}
	return e, nil
}

// EffectiveWithdrawDelay is the channel's withdrawDelay these requirements
// imply: the announced one, or DefaultWithdrawDelay when absent (what the
// official client assumes).
func (e *RequirementsExtra) EffectiveWithdrawDelay() uint64 {
	if e.WithdrawDelay == 0 {
		return DefaultWithdrawDelay
	}
	return e.WithdrawDelay
}

// ResponseExtra is the extra of a batch-settlement PAYMENT-RESPONSE
// (settle response): the amount charged for this request and the channel
// snapshot. ChargedAmount is absent on a refund's response.
type ResponseExtra struct {
	ChargedAmount *x402.Amount  `json:"chargedAmount,omitempty"`
	ChannelState  *ChannelState `json:"channelState,omitempty"`
}

// Object returns the extra as an x402.Object.
func (e ResponseExtra) Object() (x402.Object, error) {
	// What x402.NewObject(e) gives, without reflection: a voucher's
	// answer carries one.
	b := make([]byte, 0, 320)
	b = append(b, '{')
	if e.ChargedAmount != nil {
		b = append(b, `"chargedAmount":"`...)
		b = append(b, e.ChargedAmount.String()...)
		b = append(b, '"')
	}
	if e.ChannelState != nil {
		if e.ChargedAmount != nil {
			b = append(b, ',')
		}
		b = append(b, `"channelState":`...)
		b = appendChannelState(b, e.ChannelState)
	}
	return x402.Object(append(b, '}')), nil
}

// ParseChannelState reads a channel snapshot object: a facilitator's
// /verify or deposit/refund extra.channelState, or a /verify response's
// extra itself, which carries the same keys at the top level. The error is
// an *x402.Error with reason x402.ReasonInvalidPayload.
func ParseChannelState(o x402.Object) (*ChannelState, error) {
	var s ChannelState
	if o.IsNull() {
		return &s, nil
	}
	if err := o.Decode(&s); err != nil {
		return nil, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: "batch-settlement channel state", Err: err}
	}
	return &s, nil
}

// ParseResponseExtra reads a PAYMENT-RESPONSE extra; an absent extra yields
// an empty ResponseExtra. The error is an *x402.Error with reason
// x402.ReasonInvalidPayload.
func ParseResponseExtra(o x402.Object) (*ResponseExtra, error) {
	var e ResponseExtra
	if o.IsNull() {
		return &e, nil
	}
	var w struct {
		ChargedAmount json.RawMessage `json:"chargedAmount"`
		ChannelState  *ChannelState   `json:"channelState"`
	}
	if err := o.Decode(&w); err != nil {
		return nil, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: "batch-settlement response extra", Err: err}
	}
	e.ChannelState = w.ChannelState
	if !isNull(w.ChargedAmount) {
		a, err := amountField(w.ChargedAmount, "extra.chargedAmount")
		if err != nil {
			return nil, &x402.Error{Reason: x402.ReasonInvalidPayload, Message: "batch-settlement response extra", Err: err}
		}
		e.ChargedAmount = &a
	}
	return &e, nil
}
