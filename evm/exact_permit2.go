package evm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// The "exact" scheme over Permit2 (assetTransferMethod "permit2"): the
// payer signs a Permit2 PermitWitnessTransferFrom whose spender is the x402
// exact Permit2 proxy and whose witness names payTo and validAfter; the
// facilitator calls the proxy's settle, or settleWithPermit when the
// payment carries the payer's EIP-2612 permit to Permit2 (the
// eip2612GasSponsoring extension). The primitives are in package
// evm/permit2; this file holds what the server, client and facilitator
// share.

// permit2Memo is the key of a decoded Permit2 payload in a payment's memo.
type permit2Memo struct{}

// isPermit2Payload reports whether p's payload is a Permit2 one: it has a
// permit2Authorization (the official SDK's test). A payload that also has
// an EIP-3009 authorization is then refused by the strict parser.
//
// It is on the verify hot path of every EIP-3009 payment, so it first
// scans the bytes: a payload without escapes (no backslash) has the key
// only if its literal text is there; only the rest are fully decoded.
func isPermit2Payload(p *x402.Payment) bool {
	if bytes.IndexByte(p.Payload, '\\') < 0 && !bytes.Contains(p.Payload, []byte(permit2FieldJSON)) {
		return false
	}
	_, ok := p.Payload.Field("permit2Authorization")
	return ok
}

// permit2FieldJSON is the payload key of a Permit2 authorization, as JSON
// text.
const permit2FieldJSON = `"permit2Authorization"`

// decodePermit2 strictly parses p's Permit2 payload, once per payment.
// A malformed payload is a *payloadError with invalid_exact_evm_payload.
func decodePermit2(p *x402.Payment) (*permit2.Signed, error) {
	v, err := p.Decoded(permit2Memo{}, func(o x402.Object) (any, error) {
		s, err := permit2.ParsePayload(o, permit2.KindExact)
		if err != nil {
			return nil, reject(x402.ReasonExactEVMPayload, "%v", err)
		}
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*permit2.Signed), nil
}

// permit2Key is the settle-once key of a Permit2 payment: network, asset
// (as the requirements name it, lower-case), owner (lower-case hex) and the
// Permit2 nonce in decimal. The server's Identify and the facilitator's
// use it both.
func permit2Key(network x402.Network, asset string, s *permit2.Signed) x402.SettlementKey {
	return x402.SettlementKey{
		Network: network,
		Asset:   strings.ToLower(asset),
		Payer:   lowerHex(s.From[:]),
		Nonce:   s.Permit.Nonce.String(),
	}
}

// exactWitness returns the exact witness of a parsed payload (the parser
// of KindExact sets no other).
func exactWitness(s *permit2.Signed) permit2.ExactWitness {
	w, _ := s.Permit.Witness.(permit2.ExactWitness)
	return w
}

// identifyPermit2 is the server's Identify of a Permit2 payload: decoded
// as strictly as the facilitator decodes it, keyed as it keys it.
func identifyPermit2(p *x402.Payment) (x402.PaymentID, error) {
	s, err := decodePermit2(p)
	if err != nil {
		return x402.PaymentID{}, reasoned(err)
	}
	w := exactWitness(s)
	id := x402.PaymentID{
		Key:    permit2Key(p.Requirements.Network, p.Requirements.Asset, s),
		PayTo:  w.To.Hex(),
		Asset:  s.Permit.Token.Hex(),
		Amount: s.Permit.Amount.String(),
	}
	if s.Permit.Deadline.IsInt64() {
		id.Expires = unixExpiry(s.Permit.Deadline.Int64())
	}
	return id, nil
}

// identifyPermit2Settlement is the facilitator's Identify of a Permit2
// payment: its key and a fingerprint over everything that decides the
// transfer (requirements, the signed message and signature, the EIP-2612
// permit if any) and the resource paid for, as for EIP-3009 payments.
func identifyPermit2Settlement(p *x402.Payment) (x402.SettlementKey, string, error) {
	s, err := decodePermit2(p)
	if err != nil {
		return x402.SettlementKey{}, "", err
	}
	key := permit2Key(p.Requirements.Network, p.Requirements.Asset, s)
	w := exactWitness(s)
	resource := ""
	if p.Resource != nil {
		resource = p.Resource.URL
	}
	sponsor := ""
	if g, err := permit2.ParseGasSponsoring(p.Extensions); err == nil && g != nil {
		sponsor = fmt.Sprintf("%s|%s|%s|%x", g.Permit.Value, g.Permit.Nonce, g.Permit.Deadline, g.Signature[:])
	}
	h := sha256.New()
	for _, field := range []string{
		"permit2", resource,
		string(p.Requirements.Network), key.Asset, strings.ToLower(p.Requirements.PayTo), p.Requirements.Amount.String(),
		key.Payer, lowerHex(s.Permit.Token[:]), s.Permit.Amount.String(), lowerHex(s.Permit.Spender[:]), key.Nonce,
		s.Permit.Deadline.String(), lowerHex(w.To[:]), w.ValidAfter.String(), hex.EncodeToString(s.Signature), sponsor,
	} {
		h.Write([]byte(field))
		h.Write([]byte{0})
	}
	return key, hex.EncodeToString(h.Sum(nil)), nil
}

// permit2RevertReasons maps the custom errors of the exact proxy, Permit2
// and OpenZeppelin tokens (by name, see permit2.RevertName) to the reason
// codes @x402/evm 2.27 gives a Permit2 settlement that reverts.
var permit2RevertReasons = map[string]x402.Reason{
	"Permit2612AmountMismatch":   x402.ReasonPermit2EIP2612AmountMismatch,
	"InvalidAmount":              x402.ReasonPermit2InvalidAmount,
	"InvalidDestination":         x402.ReasonPermit2InvalidDestination,
	"InvalidOwner":               x402.ReasonPermit2InvalidOwner,
	"PaymentTooEarly":            x402.ReasonPermit2PaymentTooEarly,
	"InvalidSignature":           x402.ReasonPermit2Signature,
	"InvalidSigner":              x402.ReasonPermit2Signature,
	"InvalidSignatureLength":     x402.ReasonPermit2Signature,
	"InvalidContractSignature":   x402.ReasonPermit2Signature,
	"SignatureExpired":           x402.ReasonPermit2Signature,
	"InvalidNonce":               x402.ReasonPermit2InvalidNonce,
	"ERC20InsufficientBalance":   x402.ReasonPermit2InsufficientFunds,
	"ERC20InsufficientAllowance": x402.ReasonPermit2AllowanceRequired,
}

// permit2RevertReason is the reason code of a reverted Permit2 settlement
// (or its simulation: then an unknown revert is
// permit2_simulation_failed, else invalid_exact_evm_transaction_failed).
func permit2RevertReason(rev *RevertError, simulated bool) x402.Reason {
	if r, ok := permit2RevertReasons[permit2.RevertName(rev.Data)]; ok {
		return r
	}
	if simulated {
		return x402.ReasonPermit2SimulationFailed
	}
	return x402.ReasonExactEVMTransactionFailed
}

// permit2Spender is the spender an exact Permit2 payment must name.
func permit2Spender() common.Address { return permit2.ExactProxy() }
