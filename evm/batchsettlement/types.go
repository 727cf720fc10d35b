package batchsettlement

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// maxUint40 bounds withdrawDelay, a Solidity uint40.
const maxUint40 = 1<<40 - 1

// ChannelConfig is the immutable configuration of a channel; its EIP-712
// hash on a chain is the channel's id ([ChannelID]).
//
// On the wire addresses are 0x-hex of any case (they are written
// checksummed), withdrawDelay is a JSON number and salt is 32 bytes of
// 0x-hex, as @x402/evm sends them.
type ChannelConfig struct {
	Payer common.Address
	// PayerAuthorizer is the EOA that signs vouchers, or the zero address
	// when vouchers are verified against Payer (EIP-1271 smart wallets),
	// which only a facilitator can do.
	PayerAuthorizer    common.Address
	Receiver           common.Address
	ReceiverAuthorizer common.Address
	Token              common.Address
	// WithdrawDelay is in seconds; a uint40 on chain.
	WithdrawDelay uint64
	Salt          common.Hash
}

// Validate checks what the contract requires of a config: a withdrawDelay
// in [MinWithdrawDelay, MaxWithdrawDelay] and a non-zero receiver
// authorizer, payer, receiver and token. The error is an *x402.Error.
func (c *ChannelConfig) Validate() error {
	switch {
	case c.WithdrawDelay < MinWithdrawDelay || c.WithdrawDelay > MaxWithdrawDelay:
		return errf(x402.ReasonBatchWithdrawDelayOutOfRange, "withdrawDelay %d is outside [%d, %d]", c.WithdrawDelay, MinWithdrawDelay, MaxWithdrawDelay)
	case c.ReceiverAuthorizer == (common.Address{}):
		return errf(x402.ReasonBatchReceiverAuthorizerMismatch, "receiverAuthorizer is the zero address")
	case c.Payer == (common.Address{}) || c.Receiver == (common.Address{}) || c.Token == (common.Address{}):
		return errf(x402.ReasonInvalidPayload, "channel config has a zero payer, receiver or token")
	}
	return nil
}

// channelConfigJSON is the wire form of a ChannelConfig.
type channelConfigJSON struct {
	Payer              string `json:"payer"`
	PayerAuthorizer    string `json:"payerAuthorizer"`
	Receiver           string `json:"receiver"`
	ReceiverAuthorizer string `json:"receiverAuthorizer"`
	Token              string `json:"token"`
	WithdrawDelay      uint64 `json:"withdrawDelay"`
	Salt               string `json:"salt"`
}

// MarshalJSON writes the wire form (checksummed addresses).
func (c ChannelConfig) MarshalJSON() ([]byte, error) {
	return json.Marshal(channelConfigJSON{
		Payer: c.Payer.Hex(), PayerAuthorizer: c.PayerAuthorizer.Hex(), Receiver: c.Receiver.Hex(),
		ReceiverAuthorizer: c.ReceiverAuthorizer.Hex(), Token: c.Token.Hex(),
		WithdrawDelay: c.WithdrawDelay, Salt: c.Salt.Hex(),
	})
}

// UnmarshalJSON reads the wire form strictly: every field is required.
func (c *ChannelConfig) UnmarshalJSON(b []byte) error {
	var w struct {
		Payer              json.RawMessage `json:"payer"`
		PayerAuthorizer    json.RawMessage `json:"payerAuthorizer"`
		Receiver           json.RawMessage `json:"receiver"`
		ReceiverAuthorizer json.RawMessage `json:"receiverAuthorizer"`
		Token              json.RawMessage `json:"token"`
		WithdrawDelay      json.RawMessage `json:"withdrawDelay"`
		Salt               json.RawMessage `json:"salt"`
	}
	if err := unmarshalObject(b, &w, "channelConfig"); err != nil {
		return err
	}
	var out ChannelConfig
	var err error
	if out.Payer, err = addressField(w.Payer, "channelConfig.payer"); err != nil {
		return err
	}
	if out.PayerAuthorizer, err = addressField(w.PayerAuthorizer, "channelConfig.payerAuthorizer"); err != nil {
		return err
	}
	if out.Receiver, err = addressField(w.Receiver, "channelConfig.receiver"); err != nil {
		return err
	}
	if out.ReceiverAuthorizer, err = addressField(w.ReceiverAuthorizer, "channelConfig.receiverAuthorizer"); err != nil {
		return err
	}
	if out.Token, err = addressField(w.Token, "channelConfig.token"); err != nil {
		return err
	}
	if out.WithdrawDelay, err = numberField(w.WithdrawDelay, "channelConfig.withdrawDelay", maxUint40); err != nil {
		return err
	}
	if out.Salt, err = hashField(w.Salt, "channelConfig.salt"); err != nil {
		return err
	}
	*c = out
	return nil
}

// Voucher is a payer's signed cumulative ceiling for a channel.
type Voucher struct {
	ChannelID common.Hash
	// MaxClaimableAmount is cumulative over the channel's life (a uint128).
	MaxClaimableAmount x402.Amount
	// Signature is as sent: 65 bytes r‖s‖v from an EOA payer authorizer,
	// or a contract signature (EIP-1271/ERC-6492) when payerAuthorizer is
	// zero.
	Signature []byte
}

// voucherJSON is the wire form of a Voucher.
type voucherJSON struct {
	ChannelID          string      `json:"channelId"`
	MaxClaimableAmount x402.Amount `json:"maxClaimableAmount"`
	Signature          string      `json:"signature"`
}

// MarshalJSON writes {channelId, maxClaimableAmount, signature}.
func (v Voucher) MarshalJSON() ([]byte, error) {
	return json.Marshal(voucherJSON{ChannelID: v.ChannelID.Hex(), MaxClaimableAmount: v.MaxClaimableAmount, Signature: hexutil.Encode(v.Signature)})
}

// UnmarshalJSON reads the wire form strictly. A channelId that is not 32
// bytes of 0x-hex is reported with x402.ReasonBatchChannelIDInvalid, as
// @x402/evm does.
func (v *Voucher) UnmarshalJSON(b []byte) error {
	var w struct {
		ChannelID          json.RawMessage `json:"channelId"`
		MaxClaimableAmount json.RawMessage `json:"maxClaimableAmount"`
		Signature          json.RawMessage `json:"signature"`
	}
	if err := unmarshalObject(b, &w, "voucher"); err != nil {
		return err
	}
	var out Voucher
	var err error
	if out.ChannelID, err = hashField(w.ChannelID, "voucher.channelId"); err != nil {
		err.(*fieldError).reason = x402.ReasonBatchChannelIDInvalid
		return err
	}
	if out.MaxClaimableAmount, err = amount128Field(w.MaxClaimableAmount, "voucher.maxClaimableAmount"); err != nil {
		return err
	}
	if out.Signature, err = bytesField(w.Signature, "voucher.signature"); err != nil {
		return err
	}
	*v = out
	return nil
}

// ECDSA returns the voucher's signature as a canonical 65-byte ECDSA
// signature, or an error wrapping [evm.ErrInvalidSignature].
func (v *Voucher) ECDSA() (evm.Signature, error) { return evm.SignatureFromBytes(v.Signature) }

// VoucherClaim is one row of a claim: the channel, the voucher's ceiling
// and signature, and the total the receiver claims up to (≤ the ceiling).
// On the wire (@x402/evm's BatchSettlementVoucherClaim):
//
//	{"voucher":{"channel":{…config…},"maxClaimableAmount":"…"},"signature":"0x…","totalClaimed":"…"}
type VoucherClaim struct {
	Channel            ChannelConfig
	MaxClaimableAmount x402.Amount
	Signature          []byte
	TotalClaimed       x402.Amount
}

type voucherClaimJSON struct {
	Voucher struct {
		Channel            ChannelConfig `json:"channel"`
		MaxClaimableAmount x402.Amount   `json:"maxClaimableAmount"`
	} `json:"voucher"`
	Signature    string      `json:"signature"`
	TotalClaimed x402.Amount `json:"totalClaimed"`
}

// MarshalJSON writes the wire form.
func (c VoucherClaim) MarshalJSON() ([]byte, error) {
	var w voucherClaimJSON
	w.Voucher.Channel, w.Voucher.MaxClaimableAmount = c.Channel, c.MaxClaimableAmount
	w.Signature, w.TotalClaimed = hexutil.Encode(c.Signature), c.TotalClaimed
	return json.Marshal(w)
}

// UnmarshalJSON reads the wire form strictly.
func (c *VoucherClaim) UnmarshalJSON(b []byte) error {
	var w struct {
		Voucher      json.RawMessage `json:"voucher"`
		Signature    json.RawMessage `json:"signature"`
		TotalClaimed json.RawMessage `json:"totalClaimed"`
	}
	if err := unmarshalObject(b, &w, "claim"); err != nil {
		return err
	}
	var v struct {
		Channel            json.RawMessage `json:"channel"`
		MaxClaimableAmount json.RawMessage `json:"maxClaimableAmount"`
	}
	if err := unmarshalObject(w.Voucher, &v, "claim.voucher"); err != nil {
		return err
	}
	var out VoucherClaim
	if len(v.Channel) == 0 || string(v.Channel) == "null" {
		return missing("claim.voucher.channel")
	}
	if err := json.Unmarshal(v.Channel, &out.Channel); err != nil {
		return err
	}
	var err error
	if out.MaxClaimableAmount, err = amount128Field(v.MaxClaimableAmount, "claim.voucher.maxClaimableAmount"); err != nil {
		return err
	}
	if out.Signature, err = bytesField(w.Signature, "claim.signature"); err != nil {
		return err
	}
	if out.TotalClaimed, err = amount128Field(w.TotalClaimed, "claim.totalClaimed"); err != nil {
		return err
	}
	*c = out
	return nil
}

// Entry returns the ClaimBatch row of the claim, given the separator of
// the scheme's domain on the chain ([DomainSeparator]).
func (c *VoucherClaim) Entry(domainSeparator common.Hash) ClaimEntry {
	return ClaimEntry{ChannelID: ChannelIDWithSeparator(c.Channel, domainSeparator), MaxClaimableAmount: c.MaxClaimableAmount, TotalClaimed: c.TotalClaimed}
}

// fieldError says which field of a payload is wrong. ParsePayload turns it
// into an *x402.Error with reason, or the payload type's malformed-payload
// reason when reason is empty.
type fieldError struct {
	field  string
	msg    string
	reason x402.Reason
}

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func missing(field string) *fieldError { return &fieldError{field: field, msg: "missing"} }

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// unmarshalObject decodes a JSON object into w (a struct of RawMessage
// fields), requiring an object.
func unmarshalObject(b []byte, w any, field string) error {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' {
		return &fieldError{field: field, msg: "not a JSON object"}
	}
	if err := json.Unmarshal(t, w); err != nil {
		return &fieldError{field: field, msg: err.Error()}
	}
	return nil
}

// stringField returns the JSON string raw, which must be present.
func stringField(raw json.RawMessage, field string) (string, error) {
	if isNull(raw) {
		return "", missing(field)
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", &fieldError{field: field, msg: "not a JSON string"}
	}
	return s, nil
}

func addressField(raw json.RawMessage, field string) (common.Address, error) {
	s, err := stringField(raw, field)
	if err != nil {
		return common.Address{}, err
	}
	var a common.Address
	if !hexFixed(s, a[:]) {
		return common.Address{}, &fieldError{field: field, msg: "not a 0x-prefixed 20-byte hex address"}
	}
	return a, nil
}

func hashField(raw json.RawMessage, field string) (common.Hash, error) {
	s, err := stringField(raw, field)
	if err != nil {
		return common.Hash{}, err
	}
	var h common.Hash
	if !hexFixed(s, h[:]) {
		return common.Hash{}, &fieldError{field: field, msg: "not 32 bytes of 0x-hex"}
	}
	return h, nil
}

func bytesField(raw json.RawMessage, field string) ([]byte, error) {
	s, err := stringField(raw, field)
	if err != nil {
		return nil, err
	}
	b, derr := hexutil.Decode(s)
	if derr != nil || len(b) == 0 {
		return nil, &fieldError{field: field, msg: "not non-empty 0x-hex bytes"}
	}
	return b, nil
}

// amountField parses a decimal string amount (a uint256).
func amountField(raw json.RawMessage, field string) (x402.Amount, error) {
	s, err := stringField(raw, field)
	if err != nil {
		return x402.Amount{}, err
	}
	a, perr := x402.ParseAmount(s)
	if perr != nil {
		return x402.Amount{}, &fieldError{field: field, msg: "not a decimal string of a uint256"}
	}
	return a, nil
}

// amount128Field parses a decimal string amount that must fit a uint128.
func amount128Field(raw json.RawMessage, field string) (x402.Amount, error) {
	a, err := amountField(raw, field)
	if err != nil {
		return a, err
	}
	if !fitsUint128(a) {
		return x402.Amount{}, &fieldError{field: field, msg: "exceeds 2^128-1"}
	}
	return a, nil
}

// numberField parses a non-negative JSON integer ≤ limit.
func numberField(raw json.RawMessage, field string, limit uint64) (uint64, error) {
	if isNull(raw) {
		return 0, missing(field)
	}
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || n > limit {
		return 0, &fieldError{field: field, msg: fmt.Sprintf("not a JSON integer in [0, %d]", limit)}
	}
	return n, nil
}

// flexUintField parses a non-negative integer sent as a JSON number or a
// decimal string (the official server accepts both for withdrawRequestedAt
// and refundNonce).
func flexUintField(raw json.RawMessage, field string) (x402.Amount, error) {
	if len(raw) > 0 && raw[0] == '"' {
		return amountField(raw, field)
	}
	n, err := numberField(raw, field, math.MaxUint64)
	return x402.NewAmount(n), err
}

// hexFixed decodes s, "0x" or "0X" followed by exactly 2*len(dst) hex
// digits of either case, into dst.
func hexFixed[T string | []byte](s T, dst []byte) bool {
	if len(s) != 2+2*len(dst) || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	for i := range dst {
		hi, ok1 := fromHex(s[2+2*i])
		lo, ok2 := fromHex(s[3+2*i])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func fromHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// asFieldError extracts a *fieldError from err.
func asFieldError(err error) (*fieldError, bool) {
	var fe *fieldError
	ok := errors.As(err, &fe)
	return fe, ok
}
