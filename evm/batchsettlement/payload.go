package batchsettlement

import (
	"encoding/json"
	"errors"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/x402"
)

// Payload is a parsed batch-settlement payload: a *DepositPayload,
// *VoucherPayload, *RefundPayload (sent by payers), *ClaimPayload or
// *SettlePayload (authored by servers for the facilitator's /settle).
type Payload interface {
	// Type returns the payload's "type".
	Type() string
	isPayload()
}

// ChannelPayload is implemented by the payer-sent payloads: each names a
// channel and carries a voucher for it.
type ChannelPayload interface {
	Payload
	Channel() *ChannelConfig
	SignedVoucher() *Voucher
}

// VoucherPayload pays a request with a voucher on a funded channel.
type VoucherPayload struct {
	ChannelConfig ChannelConfig `json:"channelConfig"`
	Voucher       Voucher       `json:"voucher"`
}

// DepositPayload funds (or tops up) a channel and pays the request with a
// voucher in one payload.
type DepositPayload struct {
	ChannelConfig ChannelConfig `json:"channelConfig"`
	Voucher       Voucher       `json:"voucher"`
	Deposit       Deposit       `json:"deposit"`
}

// Deposit is the amount deposited and the payer's token authorization.
type Deposit struct {
	Amount        x402.Amount          `json:"amount"`
	Authorization DepositAuthorization `json:"authorization"`
}

// DepositAuthorization holds exactly one token authorization. Only
// ERC3009Authorization is supported; a Permit2 authorization is recognised
// and refused by [ParsePayload] (reason
// x402.ReasonBatchERC3009AuthorizationNeeded).
type DepositAuthorization struct {
	ERC3009Authorization *ERC3009Authorization `json:"erc3009Authorization,omitempty"`
}

// ERC3009Authorization is the payer's ReceiveWithAuthorization of the
// deposit to the ERC3009DepositCollector. The wire carries only validAfter,
// validBefore, salt and signature: from is the channel's payer, to the
// collector, value the deposit amount, and the EIP-3009 nonce
// [ERC3009DepositNonce](channelId, salt).
//
// validAfter and validBefore are decimal strings; salt is 32 bytes of
// 0x-hex (@x402/evm sends 32 random bytes; it is a uint256 on chain).
type ERC3009Authorization struct {
	ValidAfter  x402.Amount
	ValidBefore x402.Amount
	Salt        common.Hash
	Signature   []byte
}

type erc3009JSON struct {
	ValidAfter  x402.Amount `json:"validAfter"`
	ValidBefore x402.Amount `json:"validBefore"`
	Salt        string      `json:"salt"`
	Signature   string      `json:"signature"`
}

// MarshalJSON writes the wire form.
func (a ERC3009Authorization) MarshalJSON() ([]byte, error) {
	return json.Marshal(erc3009JSON{ValidAfter: a.ValidAfter, ValidBefore: a.ValidBefore, Salt: a.Salt.Hex(), Signature: hexutil.Encode(a.Signature)})
}

// RefundPayload asks for a cooperative refund of the channel's unclaimed
// balance. The payer sends ChannelConfig, a zero-charge Voucher (its
// ceiling is the charged total) and optionally Amount (a partial refund);
// the server completes RefundNonce, Claims and the receiver-authorizer
// signatures before passing it to the facilitator (the spec's "enriched"
// refund). @x402/evm also writes the resolved Amount when the payer
// omitted it.
type RefundPayload struct {
	ChannelConfig ChannelConfig `json:"channelConfig"`
	Voucher       Voucher       `json:"voucher"`
	// Amount is nil for a full refund. When present it is positive.
	Amount *x402.Amount `json:"amount,omitempty"`
	// Server-completed fields; nil/empty as the payer sends it.
	RefundNonce               *x402.Amount   `json:"refundNonce,omitempty"`
	Claims                    []VoucherClaim `json:"claims,omitempty"`
	RefundAuthorizerSignature hexBytes       `json:"refundAuthorizerSignature,omitempty"`
	ClaimAuthorizerSignature  hexBytes       `json:"claimAuthorizerSignature,omitempty"`
}

// Completed reports whether the server has completed the payload
// (amount, refundNonce and claims present, as @x402/evm's facilitator
// requires before it settles a refund).
func (p *RefundPayload) Completed() bool {
	return p.Amount != nil && p.RefundNonce != nil && p.Claims != nil
}

// ClaimPayload is a server's batch of voucher claims for claimWithSignature.
// ClaimAuthorizerSignature is omitted when the facilitator holds the
// receiver-authorizer key and signs itself.
type ClaimPayload struct {
	Claims                   []VoucherClaim `json:"claims"`
	ClaimAuthorizerSignature hexBytes       `json:"claimAuthorizerSignature,omitempty"`
}

// SettlePayload asks the facilitator to sweep the claimed funds of
// receiver and token (settle(receiver, token)).
type SettlePayload struct {
	Receiver common.Address
	Token    common.Address
}

// MarshalJSON writes {"type":"settle","receiver":…,"token":…}.
func (p SettlePayload) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type     string `json:"type"`
		Receiver string `json:"receiver"`
		Token    string `json:"token"`
	}{TypeSettle, p.Receiver.Hex(), p.Token.Hex()})
}

// MarshalJSON writes the payload with its "type".
func (p VoucherPayload) MarshalJSON() ([]byte, error) {
	type plain VoucherPayload
	return marshalTyped(TypeVoucher, plain(p))
}

// MarshalJSON writes the payload with its "type".
func (p DepositPayload) MarshalJSON() ([]byte, error) {
	type plain DepositPayload
	return marshalTyped(TypeDeposit, plain(p))
}

// MarshalJSON writes the payload with its "type". A completed refund
// (refundNonce set) always carries claims, [] when there are none:
// @x402/evm's facilitator settles only a refund whose claims is an array.
func (p RefundPayload) MarshalJSON() ([]byte, error) {
	type plain RefundPayload
	if p.RefundNonce == nil {
		return marshalTyped(TypeRefund, plain(p))
	}
	claims := p.Claims
	if claims == nil {
		claims = []VoucherClaim{}
	}
	return marshalTyped(TypeRefund, struct {
		plain
		Claims []VoucherClaim `json:"claims"`
	}{plain(p), claims})
}

// MarshalJSON writes the payload with its "type"; claims is always an array.
func (p ClaimPayload) MarshalJSON() ([]byte, error) {
	type plain ClaimPayload
	if p.Claims == nil {
		p.Claims = []VoucherClaim{}
	}
	return marshalTyped(TypeClaim, plain(p))
}

// marshalTyped writes v (a struct) with a leading "type" key.
func marshalTyped(typ string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(typ)+10)
	out = append(out, `{"type":"`...)
	out = append(out, typ...)
	out = append(out, '"')
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// Object returns the payload as the x402.Object of a PaymentPayload.
func Object(p Payload) (x402.Object, error) { return x402.NewObject(p) }

func (*VoucherPayload) Type() string { return TypeVoucher }
func (*DepositPayload) Type() string { return TypeDeposit }
func (*RefundPayload) Type() string  { return TypeRefund }
func (*ClaimPayload) Type() string   { return TypeClaim }
func (*SettlePayload) Type() string  { return TypeSettle }

func (*VoucherPayload) isPayload() {}
func (*DepositPayload) isPayload() {}
func (*RefundPayload) isPayload()  {}
func (*ClaimPayload) isPayload()   {}
func (*SettlePayload) isPayload()  {}

// Channel returns the channel's config.
func (p *VoucherPayload) Channel() *ChannelConfig { return &p.ChannelConfig }

// Channel returns the channel's config.
func (p *DepositPayload) Channel() *ChannelConfig { return &p.ChannelConfig }

// Channel returns the channel's config.
func (p *RefundPayload) Channel() *ChannelConfig { return &p.ChannelConfig }

// SignedVoucher returns the voucher.
func (p *VoucherPayload) SignedVoucher() *Voucher { return &p.Voucher }

// SignedVoucher returns the voucher.
func (p *DepositPayload) SignedVoucher() *Voucher { return &p.Voucher }

// SignedVoucher returns the voucher.
func (p *RefundPayload) SignedVoucher() *Voucher { return &p.Voucher }

// hexBytes is 0x-hex bytes on the wire.
type hexBytes []byte

// MarshalJSON writes 0x-hex.
func (b hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hexutil.Encode(b)) }

// malformedReason is the reason of a malformed payload of each type (the
// spec's codes).
func malformedReason(typ string) x402.Reason {
	switch typ {
	case TypeDeposit:
		return x402.ReasonBatchDepositPayload
	case TypeVoucher:
		return x402.ReasonBatchVoucherPayload
	case TypeRefund:
		return x402.ReasonBatchRefundPayload
	case TypeClaim:
		return x402.ReasonBatchClaimPayload
	case TypeSettle:
		return x402.ReasonBatchSettlePayload
	}
	return x402.ReasonBatchPayloadType
}

// asX402 turns a decoding error of a payload of type typ into an
// *x402.Error with the field's own reason or the type's malformed reason.
func asX402(typ string, err error) *x402.Error {
	var xe *x402.Error
	if errors.As(err, &xe) {
		return xe
	}
	reason := malformedReason(typ)
	if fe, ok := asFieldError(err); ok && fe.reason != "" {
		reason = fe.reason
	}
	return &x402.Error{Reason: reason, Message: "malformed " + typ + " payload", Err: err}
}
