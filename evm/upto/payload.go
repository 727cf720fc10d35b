package upto

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm/permit2"
	"github.com/go402/go402/x402"
)

// Scheme is the scheme's name, "upto".
const Scheme = "upto"

// Permit2Address returns Permit2's canonical address ([permit2.Address]).
func Permit2Address() common.Address { return permit2.Address() }

// ProxyAddress returns the x402 upto Permit2 proxy's canonical address
// ([permit2.UptoProxy]), the spender of every upto authorization.
func ProxyAddress() common.Address { return permit2.UptoProxy() }

// Permit is an upto authorization, flattened: what the payer signed.
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

// Message is p as a Permit2 PermitWitnessTransferFrom with the upto
// witness.
func (p *Permit) Message() *permit2.Permit {
	return &permit2.Permit{
		Token: p.Token, Amount: p.Amount, Spender: p.Spender, Nonce: p.Nonce, Deadline: p.Deadline,
		Witness: permit2.UptoWitness{To: p.To, Facilitator: p.Facilitator, ValidAfter: p.ValidAfter},
	}
}

// Digest is the EIP-712 digest the payer signs for p on chainID (Permit2's
// domain, the upto witness type).
func (p *Permit) Digest(chainID uint64) (common.Hash, error) {
	return p.Message().Digest(chainID)
}

// Encode returns the wire form of p signed with sig.
func Encode(p *Permit, sig []byte) (permit2.Payload, error) {
	return permit2.Encode(p.From, p.Message(), sig)
}

// Decoded is a payload decoded once per payment and shared by the server's
// and the facilitator's reads of it (see [x402.Payment.Decoded]). It is
// read-only.
type Decoded struct {
	Permit    Permit
	Signature []byte // as sent: 65 bytes for an EOA, longer for a smart wallet
}

// ErrPayload is wrapped by every error of [Decode] (it is
// [permit2.ErrMalformed]).
var ErrPayload = permit2.ErrMalformed

// Decode decodes an "upto" payload object as strictly as
// [permit2.ParsePayload] does for the upto witness.
func Decode(o x402.Object) (*Decoded, error) {
	s, err := permit2.ParsePayload(o, permit2.KindUpto)
	if err != nil {
		return nil, err
	}
	w, ok := s.Permit.Witness.(permit2.UptoWitness)
	if !ok {
		return nil, fmt.Errorf("%w: not an upto witness", ErrPayload)
	}
	m := &s.Permit
	return &Decoded{
		Permit: Permit{
			From: s.From, Token: m.Token, Amount: m.Amount, Spender: m.Spender, Nonce: m.Nonce, Deadline: m.Deadline,
			To: w.To, Facilitator: w.Facilitator, ValidAfter: w.ValidAfter,
		},
		Signature: s.Signature,
	}, nil
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
