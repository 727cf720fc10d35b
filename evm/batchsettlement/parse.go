package batchsettlement

import (
	"encoding/json"

	"github.com/go402/go402/x402"
)

// MaxClaimsPerPayload bounds the claims of a claim or refund payload, so
// that a hostile payload cannot make a parser or a signer work without
// limit. @x402/evm batches at most 100 claims by default.
const MaxClaimsPerPayload = 1000

// payloadJSON is the union of every payload type's keys, decoded raw.
type payloadJSON struct {
	Type                      json.RawMessage `json:"type"`
	ChannelConfig             json.RawMessage `json:"channelConfig"`
	Voucher                   json.RawMessage `json:"voucher"`
	Deposit                   json.RawMessage `json:"deposit"`
	Amount                    json.RawMessage `json:"amount"`
	RefundNonce               json.RawMessage `json:"refundNonce"`
	Claims                    json.RawMessage `json:"claims"`
	RefundAuthorizerSignature json.RawMessage `json:"refundAuthorizerSignature"`
	ClaimAuthorizerSignature  json.RawMessage `json:"claimAuthorizerSignature"`
	Receiver                  json.RawMessage `json:"receiver"`
	Token                     json.RawMessage `json:"token"`
}

// ParsePayload parses the payload object of a batch-settlement payment (or
// of a server's /settle request) strictly: every required field present and
// well-formed, addresses 0x-hex of any case, amounts decimal strings within
// uint128 where the contract takes a uint128, keys that differ only in case
// refused (see [x402.Object.Decode]); unknown keys are ignored, as
// @x402/evm ignores them.
//
// The error is an *x402.Error whose reason is x402.ReasonBatchPayloadType
// for a missing or unknown type, the spec's malformed-payload reason of the
// type (x402.ReasonBatchVoucherPayload, …DepositPayload, …RefundPayload,
// …ClaimPayload, …SettlePayload) for a malformed field, and a more precise
// reason where @x402/evm has one (x402.ReasonBatchChannelIDInvalid,
// …RefundAmountInvalid, …ERC3009AuthorizationNeeded for a Permit2 deposit,
// which is not supported yet). It never panics.
func ParsePayload(o x402.Object) (Payload, error) {
	if p, ok := parseVoucherFast(o); ok {
		return p, nil
	}
	return parseGeneral(o)
}

// parseGeneral is ParsePayload without the fast path.
func parseGeneral(o x402.Object) (Payload, error) {
	var w payloadJSON
	if o.IsNull() {
		return nil, errf(x402.ReasonBatchPayloadType, "payload is absent")
	}
	if err := o.Decode(&w); err != nil {
		return nil, &x402.Error{Reason: x402.ReasonBatchPayloadType, Message: "payload is not a JSON object", Err: err}
	}
	typ, err := stringField(w.Type, "type")
	if err != nil {
		return nil, &x402.Error{Reason: x402.ReasonBatchPayloadType, Message: "payload has no type", Err: err}
	}
	var p Payload
	switch typ {
	case TypeVoucher:
		p, err = parseVoucherPayload(&w)
	case TypeDeposit:
		p, err = parseDepositPayload(&w)
	case TypeRefund:
		p, err = parseRefundPayload(&w)
	case TypeClaim:
		p, err = parseClaimPayload(&w)
	case TypeSettle:
		p, err = parseSettlePayload(&w)
	default:
		return nil, errf(x402.ReasonBatchPayloadType, "unknown payload type %.40q", typ)
	}
	if err != nil {
		return nil, asX402(typ, err)
	}
	return p, nil
}

// ParseChannelPayload is [ParsePayload] restricted to what a payer sends:
// deposit, voucher and refund payloads. Server-authored types are refused
// with x402.ReasonBatchPayloadType.
func ParseChannelPayload(o x402.Object) (ChannelPayload, error) {
	p, err := ParsePayload(o)
	if err != nil {
		return nil, err
	}
	cp, ok := p.(ChannelPayload)
	if !ok {
		return nil, errf(x402.ReasonBatchPayloadType, "a %s payload is not a payment", p.Type())
	}
	return cp, nil
}

// channelAndVoucher decodes the two fields every payer payload has.
func channelAndVoucher(w *payloadJSON, cfg *ChannelConfig, v *Voucher) error {
	if isNull(w.ChannelConfig) {
		return missing("channelConfig")
	}
	if err := json.Unmarshal(w.ChannelConfig, cfg); err != nil {
		return err
	}
	if isNull(w.Voucher) {
		return missing("voucher")
	}
	return json.Unmarshal(w.Voucher, v)
}

func parseVoucherPayload(w *payloadJSON) (*VoucherPayload, error) {
	p := new(VoucherPayload)
	if err := channelAndVoucher(w, &p.ChannelConfig, &p.Voucher); err != nil {
		return nil, err
	}
	return p, nil
}

func parseDepositPayload(w *payloadJSON) (*DepositPayload, error) {
	p := new(DepositPayload)
	if err := channelAndVoucher(w, &p.ChannelConfig, &p.Voucher); err != nil {
		return nil, err
	}
	var d struct {
		Amount        json.RawMessage `json:"amount"`
		Authorization json.RawMessage `json:"authorization"`
	}
	if isNull(w.Deposit) {
		return nil, missing("deposit")
	}
	if err := unmarshalObject(w.Deposit, &d, "deposit"); err != nil {
		return nil, err
	}
	var err error
	if p.Deposit.Amount, err = amount128Field(d.Amount, "deposit.amount"); err != nil {
		return nil, err
	}
	if p.Deposit.Amount.IsZero() {
		return nil, &fieldError{field: "deposit.amount", msg: "is zero"}
	}
	var auth struct {
		ERC3009 json.RawMessage `json:"erc3009Authorization"`
		Permit2 json.RawMessage `json:"permit2Authorization"`
	}
	if isNull(d.Authorization) {
		return nil, missing("deposit.authorization")
	}
	if err := unmarshalObject(d.Authorization, &auth, "deposit.authorization"); err != nil {
		return nil, err
	}
	switch hasE, hasP := !isNull(auth.ERC3009), !isNull(auth.Permit2); {
	case hasE && hasP:
		return nil, &fieldError{field: "deposit.authorization", msg: "carries both erc3009Authorization and permit2Authorization"}
	case hasP:
		return nil, &fieldError{field: "deposit.authorization.permit2Authorization", msg: "Permit2 deposits are not supported; use eip3009", reason: x402.ReasonBatchERC3009AuthorizationNeeded}
	case !hasE:
		return nil, &fieldError{field: "deposit.authorization.erc3009Authorization", msg: "missing", reason: x402.ReasonBatchERC3009AuthorizationNeeded}
	}
	a, err := parseERC3009(auth.ERC3009)
	if err != nil {
		return nil, err
	}
	p.Deposit.Authorization.ERC3009Authorization = a
	return p, nil
}

func parseERC3009(raw json.RawMessage) (*ERC3009Authorization, error) {
	var w struct {
		ValidAfter  json.RawMessage `json:"validAfter"`
		ValidBefore json.RawMessage `json:"validBefore"`
		Salt        json.RawMessage `json:"salt"`
		Signature   json.RawMessage `json:"signature"`
	}
	const f = "deposit.authorization.erc3009Authorization"
	if err := unmarshalObject(raw, &w, f); err != nil {
		return nil, err
	}
	a := new(ERC3009Authorization)
	var err error
	if a.ValidAfter, err = amountField(w.ValidAfter, f+".validAfter"); err != nil {
		return nil, err
	}
	if a.ValidBefore, err = amountField(w.ValidBefore, f+".validBefore"); err != nil {
		return nil, err
	}
	if a.Salt, err = hashField(w.Salt, f+".salt"); err != nil {
		return nil, err
	}
	if a.Signature, err = bytesField(w.Signature, f+".signature"); err != nil {
		return nil, err
	}
	return a, nil
}

func parseRefundPayload(w *payloadJSON) (*RefundPayload, error) {
	p := new(RefundPayload)
	if err := channelAndVoucher(w, &p.ChannelConfig, &p.Voucher); err != nil {
		return nil, err
	}
	if !isNull(w.Amount) {
		a, err := amount128Field(w.Amount, "amount")
		if err != nil || a.IsZero() {
			return nil, &fieldError{field: "amount", msg: "must be a positive decimal string within uint128", reason: x402.ReasonBatchRefundAmountInvalid}
		}
		p.Amount = &a
	}
	if !isNull(w.RefundNonce) {
		n, err := flexUintField(w.RefundNonce, "refundNonce")
		if err != nil {
			return nil, err
		}
		p.RefundNonce = &n
	}
	if !isNull(w.Claims) {
		claims, err := parseClaims(w.Claims, true)
		if err != nil {
			return nil, err
		}
		p.Claims = claims
	}
	var err error
	if p.RefundAuthorizerSignature, err = optionalBytes(w.RefundAuthorizerSignature, "refundAuthorizerSignature"); err != nil {
		return nil, err
	}
	if p.ClaimAuthorizerSignature, err = optionalBytes(w.ClaimAuthorizerSignature, "claimAuthorizerSignature"); err != nil {
		return nil, err
	}
	return p, nil
}

func parseClaimPayload(w *payloadJSON) (*ClaimPayload, error) {
	if isNull(w.Claims) {
		return nil, missing("claims")
	}
	claims, err := parseClaims(w.Claims, false)
	if err != nil {
		return nil, err
	}
	p := &ClaimPayload{Claims: claims}
	if p.ClaimAuthorizerSignature, err = optionalBytes(w.ClaimAuthorizerSignature, "claimAuthorizerSignature"); err != nil {
		return nil, err
	}
	return p, nil
}

// parseClaims decodes a claims array of at most MaxClaimsPerPayload rows;
// it must not be empty unless allowEmpty.
func parseClaims(raw json.RawMessage, allowEmpty bool) ([]VoucherClaim, error) {
	if raw[0] != '[' {
		return nil, &fieldError{field: "claims", msg: "not a JSON array"}
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, &fieldError{field: "claims", msg: err.Error()}
	}
	switch {
	case len(rows) > MaxClaimsPerPayload:
		return nil, &fieldError{field: "claims", msg: "too many claims"}
	case len(rows) == 0 && !allowEmpty:
		return nil, &fieldError{field: "claims", msg: "empty"}
	}
	claims := make([]VoucherClaim, len(rows))
	for i, r := range rows {
		if isNull(r) {
			return nil, missing("claims[]")
		}
		if err := json.Unmarshal(r, &claims[i]); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

func optionalBytes(raw json.RawMessage, field string) (hexBytes, error) {
	if isNull(raw) {
		return nil, nil
	}
	b, err := bytesField(raw, field)
	return b, err
}

func parseSettlePayload(w *payloadJSON) (*SettlePayload, error) {
	p := new(SettlePayload)
	var err error
	if p.Receiver, err = addressField(w.Receiver, "receiver"); err != nil {
		return nil, err
	}
	if p.Token, err = addressField(w.Token, "token"); err != nil {
		return nil, err
	}
	return p, nil
}
