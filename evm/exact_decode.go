package evm

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/x402"
)

// exactDecoded is an "exact" EIP-3009 payload decoded once per payment
// (through [x402.Payment.Decoded]) and shared by the server's Identify and
// the facilitator's Verify, Identify and Settle. It is read-only once built.
type exactDecoded struct {
	store authStore // holds the authorization and its integers
	auth  *Authorization
	sig   Signature
	// sigErr is set when the signature does not parse; it is reported
	// after the authorization's own checks, as the reference orders them.
	sigErr *payloadError
	rawSig string // the signature as sent, when it does not parse
	// wsig is a smart-wallet signature (not 65 bytes), checked on chain.
	wsig []byte
	fast bool // decoded on the fast path: exactly signature and authorization
}

// exactMemo is the key of exactDecoded values in a payment's memo.
type exactMemo struct{}

// decodeExact returns the decoded payload of p, decoding it the first time.
// The error is a *payloadError for a payload that is not an EIP-3009
// authorization.
func decodeExact(p *x402.Payment) (*exactDecoded, error) {
	v, err := p.Decoded(exactMemo{}, func(o x402.Object) (any, error) { return decodeExactObject(o) })
	if err != nil {
		return nil, err
	}
	return v.(*exactDecoded), nil
}

// decodeExactObject decodes a payload object: the allocation-free fast path
// for the canonical form, else the strict general decoder, which also says
// what is wrong.
func decodeExactObject(o x402.Object) (*exactDecoded, error) {
	d := new(exactDecoded)
	if sig, ok := decodeFast(o, &d.store); ok {
		d.auth, d.sig, d.fast = &d.store.auth, sig, true
		return d, nil
	}
	payload, err := decodeExactPayload(o)
	if err != nil {
		return nil, err
	}
	if d.auth, err = decodeAuthorization(payload); err != nil {
		return nil, err
	}
	if d.sig, err = ParseSignature(payload.Signature); err != nil {
		if w, ok := parseWalletSignature(payload.Signature); ok {
			// A smart-wallet signature (EIP-1271, ERC-6492): checked on chain.
			d.wsig, d.sig = w, Signature{}
			return d, nil
		}
		msg := err.Error()
		if n := len(strings.TrimPrefix(payload.Signature, "0x")) / 2; n > MaxSmartWalletSignature {
			msg = fmt.Sprintf("%d-byte signature, more than the %d accepted", n, MaxSmartWalletSignature)
		}
		d.sigErr, d.rawSig = reject(x402.ReasonExactEVMSignature, "%s", msg), payload.Signature
	}
	return d, nil
}

// signatureText is the canonical hex of the signature (v as 27/28), so that
// a retry encoding the same signature differently is not mistaken for
// another payment; an unparsable signature is used as sent, lower-cased.
func (d *exactDecoded) signatureText() string {
	if d.sigErr != nil {
		return strings.ToLower(d.rawSig)
	}
	if d.wsig != nil {
		return walletSignatureHex(d.wsig)
	}
	return d.sig.Hex()
}

// exactKey is the settle-once key of an EIP-3009 authorization: network,
// asset, payer and nonce, lower-case hex. The server's Identify and the
// facilitator's use it both, so they agree on what one payment is.
func exactKey(network x402.Network, asset common.Address, auth *Authorization) x402.SettlementKey {
	return x402.SettlementKey{
		Network: network,
		Asset:   lowerHex(asset[:]),
		Payer:   lowerHex(auth.From[:]),
		Nonce:   lowerHex(auth.Nonce[:]),
	}
}

// lowerHex is b as 0x-prefixed lower-case hex (an address without its
// EIP-55 checksum, which costs a Keccak hash), in one allocation.
func lowerHex(b []byte) string {
	var buf [2 + 2*32]byte
	if len(b) > 32 {
		return hexutil.Encode(b)
	}
	buf[0], buf[1] = '0', 'x'
	hex.Encode(buf[2:], b)
	return string(buf[:2+2*len(b)])
}
