package permit2

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/x402"
)

// ErrMalformed is wrapped by every error of [ParsePayload] and
// [ParseGasSponsoring]; the message names the offending field.
var ErrMalformed = errors.New("evm/permit2: malformed payload")

// MaxSignatureBytes bounds the signature a payload may carry: an EOA
// signature is 65 bytes, a contract wallet's (EIP-1271, ERC-6492 wrapped)
// a few hundred to a few thousand.
const MaxSignatureBytes = 16 << 10

// Payload is the wire form of a Permit2 payment payload, the object in
// PaymentPayload.payload: {"signature", "permit2Authorization"}.
type Payload struct {
	Signature     string        `json:"signature"`
	Authorization Authorization `json:"permit2Authorization"`
}

// Authorization is the wire form of a signed PermitWitnessTransferFrom:
// addresses as 0x-hex, integers as decimal strings.
type Authorization struct {
	From      string           `json:"from"`
	Permitted TokenPermissions `json:"permitted"`
	Spender   string           `json:"spender"`
	Nonce     string           `json:"nonce"`
	Deadline  string           `json:"deadline"`
	Witness   WireWitness      `json:"witness"`
}

// TokenPermissions is the wire form of the permitted token and amount.
type TokenPermissions struct {
	Token  string `json:"token"`
	Amount string `json:"amount"`
}

// WireWitness is the wire form of either witness: Facilitator is set for
// the upto witness only.
type WireWitness struct {
	To          string `json:"to"`
	Facilitator string `json:"facilitator,omitempty"`
	ValidAfter  string `json:"validAfter"`
}

// Kind says which proxy's witness a payload carries.
type Kind int

const (
	// KindExact is the exact proxy's witness {to, validAfter}.
	KindExact Kind = iota
	// KindUpto is the upto proxy's witness {to, facilitator, validAfter}.
	KindUpto
)

// Signed is a parsed Permit2 payload: the owner, the message it signed and
// the signature bytes as sent (65 bytes for an EOA, longer for a contract
// wallet). Permit.Witness is an [ExactWitness] or an [UptoWitness].
type Signed struct {
	From      common.Address
	Permit    Permit
	Signature []byte
}

// Encode returns the wire form of a signed permit. The witness must be an
// [ExactWitness] or an [UptoWitness].
func Encode(from common.Address, p *Permit, sig []byte) (Payload, error) {
	if err := p.Validate(); err != nil {
		return Payload{}, err
	}
	w := WireWitness{}
	switch x := p.Witness.(type) {
	case ExactWitness:
		w.To, w.ValidAfter = x.To.Hex(), x.ValidAfter.String()
	case UptoWitness:
		w.To, w.Facilitator, w.ValidAfter = x.To.Hex(), x.Facilitator.Hex(), x.ValidAfter.String()
	default:
		return Payload{}, fmt.Errorf("evm/permit2: cannot encode witness %T", p.Witness)
	}
	if err := CheckUint256("witness.validAfter", witnessValidAfter(p.Witness)); err != nil {
		return Payload{}, err
	}
	return Payload{
		Signature: "0x" + hex.EncodeToString(sig),
		Authorization: Authorization{
			From:      from.Hex(),
			Permitted: TokenPermissions{Token: p.Token.Hex(), Amount: p.Amount.String()},
			Spender:   p.Spender.Hex(),
			Nonce:     p.Nonce.String(),
			Deadline:  p.Deadline.String(),
			Witness:   w,
		},
	}, nil
}

func witnessValidAfter(w Witness) *big.Int {
	switch x := w.(type) {
	case ExactWitness:
		return x.ValidAfter
	case UptoWitness:
		return x.ValidAfter
	}
	return nil
}

// ParsePayload strictly parses a Permit2 payload object of the given kind.
// It refuses: keys that differ only in case (see [x402.Object.Decode]),
// unknown keys at any level, non-string values, addresses that are not
// 0x-prefixed 20-byte hex or are mixed-case with a wrong EIP-55 checksum,
// integers that are not decimal uint256 strings, a missing or non-hex
// signature, and a witness of the other kind. Errors wrap [ErrMalformed].
// It checks the form only: amounts, addresses, times and the signature
// are for the caller to verify.
func ParsePayload(o x402.Object, kind Kind) (*Signed, error) {
	var p Payload
	if err := strictDecode(o, &p); err != nil {
		return nil, err
	}
	a := &p.Authorization
	s := &Signed{}
	var err error
	if s.Signature, err = parseHexBytes("signature", p.Signature); err != nil {
		return nil, err
	}
	f := fields{}
	s.From = f.address("permit2Authorization.from", a.From)
	s.Permit.Token = f.address("permit2Authorization.permitted.token", a.Permitted.Token)
	s.Permit.Amount = f.uint("permit2Authorization.permitted.amount", a.Permitted.Amount)
	s.Permit.Spender = f.address("permit2Authorization.spender", a.Spender)
	s.Permit.Nonce = f.uint("permit2Authorization.nonce", a.Nonce)
	s.Permit.Deadline = f.uint("permit2Authorization.deadline", a.Deadline)
	to := f.address("permit2Authorization.witness.to", a.Witness.To)
	validAfter := f.uint("permit2Authorization.witness.validAfter", a.Witness.ValidAfter)
	switch kind {
	case KindExact:
		if a.Witness.Facilitator != "" {
			f.fail("permit2Authorization.witness.facilitator", "is not part of the exact witness")
		}
		s.Permit.Witness = ExactWitness{To: to, ValidAfter: validAfter}
	case KindUpto:
		fac := f.address("permit2Authorization.witness.facilitator", a.Witness.Facilitator)
		s.Permit.Witness = UptoWitness{To: to, Facilitator: fac, ValidAfter: validAfter}
	default:
		return nil, fmt.Errorf("%w: unknown witness kind %d", ErrMalformed, kind)
	}
	if f.err != nil {
		return nil, f.err
	}
	return s, nil
}

// strictDecode decodes o into v refusing case-folded duplicates (through
// x402.Object.Decode), unknown keys and trailing data.
func strictDecode(o x402.Object, v any) error {
	if err := o.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(o))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// fields collects the first field error.
type fields struct{ err error }

func (f *fields) fail(name, msg string) {
	if f.err == nil {
		f.err = fmt.Errorf("%w: %s %s", ErrMalformed, name, msg)
	}
}

func (f *fields) address(name, s string) common.Address {
	a, problem := ParseAddress(s)
	if problem != "" {
		f.fail(name, problem)
	}
	return a
}

func (f *fields) uint(name, s string) *big.Int {
	a, err := x402.ParseAmount(s)
	if err != nil {
		f.fail(name, "must be a decimal uint256 string")
		return new(big.Int)
	}
	return a.Big()
}

// ParseAddress parses a 0x-prefixed 20-byte hex address; a mixed-case
// address must carry a correct EIP-55 checksum (viem's getAddress, which
// the official SDK applies, refuses a wrong one). The second result says
// what is wrong, "" for a good address.
func ParseAddress(s string) (common.Address, string) {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || !common.IsHexAddress(s) {
		return common.Address{}, "must be a 0x-prefixed 20-byte hex address"
	}
	a := common.HexToAddress(s)
	if d := s[2:]; d != strings.ToLower(d) && d != strings.ToUpper(d) && a.Hex()[2:] != d {
		return common.Address{}, "has a wrong EIP-55 checksum"
	}
	return a, ""
}

var hexBytesRE = regexp.MustCompile(`^0[xX]([0-9a-fA-F]{2})+$`)

// parseHexBytes decodes 0x-prefixed hex of at most MaxSignatureBytes.
func parseHexBytes(name, s string) ([]byte, error) {
	if len(s) > 2+2*MaxSignatureBytes || !hexBytesRE.MatchString(s) {
		return nil, fmt.Errorf("%w: %s must be 0x-prefixed hex bytes (at most %d)", ErrMalformed, name, MaxSignatureBytes)
	}
	return hex.DecodeString(s[2:])
}
