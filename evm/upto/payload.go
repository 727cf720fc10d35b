package upto

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/go402/go402/x402"
)

// Scheme is the scheme's name, "upto".
const Scheme = "upto"

// Canonical addresses (the same on every chain).
const (
	// Permit2AddressHex is Uniswap's Permit2.
	Permit2AddressHex = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
	// ProxyAddressHex is the x402 upto Permit2 proxy, the spender of every
	// upto authorization.
	ProxyAddressHex = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"
)

// Permit2Address returns [Permit2AddressHex] as an address.
func Permit2Address() common.Address { return common.HexToAddress(Permit2AddressHex) }

// ProxyAddress returns [ProxyAddressHex] as an address.
func ProxyAddress() common.Address { return common.HexToAddress(ProxyAddressHex) }

// maxSignatureBytes bounds the signature of a payload: a 65-byte EOA
// signature, or a smart wallet's (EIP-1271, ERC-6492 wrapped), which is
// longer but not without limit.
const maxSignatureBytes = 4096

// Payload is the payload object of an "upto" payment, as on the wire: all
// integers are decimal strings and addresses 0x-prefixed hex.
type Payload struct {
	Signature            string            `json:"signature"`
	Permit2Authorization WireAuthorization `json:"permit2Authorization"`
}

// WireAuthorization is permit2Authorization of a [Payload].
type WireAuthorization struct {
	From      string `json:"from"`
	Permitted struct {
		Token  string `json:"token"`
		Amount string `json:"amount"`
	} `json:"permitted"`
	Spender  string `json:"spender"`
	Nonce    string `json:"nonce"`
	Deadline string `json:"deadline"`
	Witness  struct {
		To          string `json:"to"`
		Facilitator string `json:"facilitator"`
		ValidAfter  string `json:"validAfter"`
	} `json:"witness"`
}

// Permit is a decoded upto authorization: what the payer signed.
type Permit struct {
	From        common.Address // the payer (Permit2's owner)
	Token       common.Address
	Amount      *big.Int // the maximum: permitted.amount
	Spender     common.Address
	Nonce       *big.Int
	Deadline    *big.Int
	To          common.Address // witness.to, the payee
	Facilitator common.Address // witness.facilitator, the only sender allowed
	ValidAfter  *big.Int
}

// Encode returns the wire form of p signed with sig.
func Encode(p *Permit, sig []byte) Payload {
	var out Payload
	out.Signature = hexutil.Encode(sig)
	a := &out.Permit2Authorization
	a.From = p.From.Hex()
	a.Permitted.Token = p.Token.Hex()
	a.Permitted.Amount = p.Amount.String()
	a.Spender = p.Spender.Hex()
	a.Nonce = p.Nonce.String()
	a.Deadline = p.Deadline.String()
	a.Witness.To = p.To.Hex()
	a.Witness.Facilitator = p.Facilitator.Hex()
	a.Witness.ValidAfter = p.ValidAfter.String()
	return out
}

// Decoded is a payload decoded once per payment and shared by the server's
// and the facilitator's reads of it (see [x402.Payment.Decoded]). It is
// read-only.
type Decoded struct {
	Permit    Permit
	Signature []byte
}

// ErrPayload is wrapped by every error of [Decode].
var ErrPayload = errors.New("upto: malformed payload")

// Decode decodes and checks an "upto" payload object strictly: the
// @x402/evm field set, every field a JSON string, addresses 20-byte hex,
// integers decimal uint256 (the nonce may also be 0x-hex, as the spec's
// example writes it), the signature hex of at most 4096 bytes.
func Decode(o x402.Object) (*Decoded, error) {
	var pl struct {
		Signature            *string `json:"signature"`
		Permit2Authorization *struct {
			From      *string `json:"from"`
			Permitted *struct {
				Token  *string `json:"token"`
				Amount *string `json:"amount"`
			} `json:"permitted"`
			Spender  *string `json:"spender"`
			Nonce    *string `json:"nonce"`
			Deadline *string `json:"deadline"`
			Witness  *struct {
				To          *string `json:"to"`
				Facilitator *string `json:"facilitator"`
				ValidAfter  *string `json:"validAfter"`
			} `json:"witness"`
		} `json:"permit2Authorization"`
	}
	if err := o.Decode(&pl); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("%w: field %s is not a %s", ErrPayload, te.Field, te.Type)
		}
		return nil, fmt.Errorf("%w: %v", ErrPayload, err)
	}
	a := pl.Permit2Authorization
	switch {
	case pl.Signature == nil:
		return nil, fmt.Errorf("%w: no signature", ErrPayload)
	case a == nil:
		return nil, fmt.Errorf("%w: no permit2Authorization", ErrPayload)
	case a.Permitted == nil:
		return nil, fmt.Errorf("%w: no permit2Authorization.permitted", ErrPayload)
	case a.Witness == nil:
		return nil, fmt.Errorf("%w: no permit2Authorization.witness", ErrPayload)
	}
	d := new(Decoded)
	p := &d.Permit
	var err error
	for _, f := range []struct {
		name string
		src  *string
		dst  *common.Address
	}{
		{"from", a.From, &p.From}, {"permitted.token", a.Permitted.Token, &p.Token},
		{"spender", a.Spender, &p.Spender}, {"witness.to", a.Witness.To, &p.To},
		{"witness.facilitator", a.Witness.Facilitator, &p.Facilitator},
	} {
		if *f.dst, err = address(f.name, f.src); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		name string
		src  *string
		dst  **big.Int
		hex  bool
	}{
		{"permitted.amount", a.Permitted.Amount, &p.Amount, false}, {"nonce", a.Nonce, &p.Nonce, true},
		{"deadline", a.Deadline, &p.Deadline, false}, {"witness.validAfter", a.Witness.ValidAfter, &p.ValidAfter, false},
	} {
		if *f.dst, err = uint256(f.name, f.src, f.hex); err != nil {
			return nil, err
		}
	}
	if d.Signature, err = signature(*pl.Signature); err != nil {
		return nil, err
	}
	return d, nil
}

func address(name string, s *string) (common.Address, error) {
	if s == nil {
		return common.Address{}, fmt.Errorf("%w: no %s", ErrPayload, name)
	}
	h := *s
	if len(h) != 42 || !strings.HasPrefix(h, "0x") && !strings.HasPrefix(h, "0X") || !common.IsHexAddress(h) {
		return common.Address{}, fmt.Errorf("%w: %s %.50q is not a 0x-prefixed 20-byte address", ErrPayload, name, h)
	}
	return common.HexToAddress(h), nil
}

func uint256(name string, s *string, hexOK bool) (*big.Int, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no %s", ErrPayload, name)
	}
	if hexOK && len(*s) > 2 && (strings.HasPrefix(*s, "0x") || strings.HasPrefix(*s, "0X")) {
		digits := (*s)[2:]
		if len(digits) > 64 {
			return nil, fmt.Errorf("%w: %s is more than 256 bits", ErrPayload, name)
		}
		v, ok := new(big.Int).SetString(digits, 16)
		if !ok {
			return nil, fmt.Errorf("%w: %s %.80q is not a hex integer", ErrPayload, name, *s)
		}
		return v, nil
	}
	a, err := x402.ParseAmount(*s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrPayload, name, err)
	}
	return a.Big(), nil
}

func signature(s string) ([]byte, error) {
	if !strings.HasPrefix(s, "0x") || len(s)%2 != 0 || len(s) < 4 {
		return nil, fmt.Errorf("%w: signature is not 0x-prefixed hex bytes", ErrPayload)
	}
	if (len(s)-2)/2 > maxSignatureBytes {
		return nil, fmt.Errorf("%w: signature is %d bytes, more than %d", ErrPayload, (len(s)-2)/2, maxSignatureBytes)
	}
	b, err := hexutil.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrPayload, err)
	}
	return b, nil
}

// decodedMemo is the key of Decoded values in a payment's memo.
type decodedMemo struct{}

// decode returns p's decoded payload, decoding it once per payment.
func decode(p *x402.Payment) (*Decoded, error) {
	v, err := p.Decoded(decodedMemo{}, func(o x402.Object) (any, error) { return Decode(o) })
	if err != nil {
		return nil, err
	}
	return v.(*Decoded), nil
}

// key is the settle-once key of a permit: network, asset, payer (lower-case
// hex) and the Permit2 nonce in decimal, the form go402's exact server keys
// Permit2 payments by too.
func key(network x402.Network, p *Permit) x402.SettlementKey {
	return x402.SettlementKey{
		Network: network,
		Asset:   strings.ToLower(p.Token.Hex()),
		Payer:   strings.ToLower(p.From.Hex()),
		Nonce:   p.Nonce.String(),
	}
}
