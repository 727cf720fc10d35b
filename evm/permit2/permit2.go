package permit2

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Canonical addresses, the same on every network (CREATE2), EIP-55
// checksummed.
const (
	// AddressHex is the Permit2 contract.
	AddressHex = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
	// ExactProxyHex is the x402 exact Permit2 proxy, the spender of an
	// `exact` Permit2 payment.
	ExactProxyHex = "0x402085c248EeA27D92E8b30b2C58ed07f9E20001"
	// UptoProxyHex is the x402 upto Permit2 proxy, the spender of an `upto`
	// payment.
	UptoProxyHex = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002"
)

// Address returns the Permit2 contract address.
func Address() common.Address { return common.HexToAddress(AddressHex) }

// ExactProxy returns the x402 exact Permit2 proxy address.
func ExactProxy() common.Address { return common.HexToAddress(ExactProxyHex) }

// UptoProxy returns the x402 upto Permit2 proxy address.
func UptoProxy() common.Address { return common.HexToAddress(UptoProxyHex) }

// EIP-712 types of the Permit2 domain and of the signature-transfer message.
const (
	// DomainType is the type of the Permit2 domain: no version.
	DomainType = "EIP712Domain(string name,uint256 chainId,address verifyingContract)"
	// DomainName is the Permit2 domain's name.
	DomainName = "Permit2"
	// TokenPermissionsType is the type of the permitted token and amount.
	TokenPermissionsType = "TokenPermissions(address token,uint256 amount)"
	// witnessTransferPrefix is the head of the message type, which Permit2
	// completes with the witness type string the spender passes.
	witnessTransferPrefix = "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,"
)

// ErrValueOutOfRange is wrapped by the errors returned for an integer field
// that is nil, negative or above 2^256-1.
var ErrValueOutOfRange = errors.New("evm/permit2: value out of uint256 range")

// DomainSeparator returns hashStruct of the Permit2 domain on chainID with
// the canonical Permit2 address as verifying contract.
func DomainSeparator(chainID uint64) common.Hash {
	return DomainSeparatorAt(chainID, Address())
}

// DomainSeparatorAt is [DomainSeparator] for a Permit2 deployed at another
// address.
func DomainSeparatorAt(chainID uint64, permit2 common.Address) common.Hash {
	var buf [4 * 32]byte
	copy(buf[0:32], crypto.Keccak256([]byte(DomainType)))
	copy(buf[32:64], crypto.Keccak256([]byte(DomainName)))
	new(big.Int).SetUint64(chainID).FillBytes(buf[64:96])
	copy(buf[108:128], permit2[:])
	return crypto.Keccak256Hash(buf[:])
}

// Witness is the extra data a spender binds into a Permit2 signature: its
// EIP-712 type and struct hash. Permit2 checks the signature over the
// message type that [WitnessTypeString] completes.
type Witness interface {
	// TypeName is the witness struct's EIP-712 type name, "Witness" for
	// both x402 proxies.
	TypeName() string
	// TypeString is the struct's EIP-712 type encoding, for example
	// "Witness(address to,uint256 validAfter)". The witness may not
	// reference other structs.
	TypeString() string
	// StructHash is the EIP-712 hashStruct of the witness value.
	StructHash() (common.Hash, error)
}

// WitnessTypeString is the witnessTypeString a spender passes to
// Permit2.permitWitnessTransferFrom for witnesses of w's type: the end of
// the PermitWitnessTransferFrom member list ("Witness witness)") followed by
// the referenced struct types in alphabetical order, as EIP-712 requires.
// For the exact proxy it is
// "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)".
func WitnessTypeString(w Witness) string {
	refs := []string{TokenPermissionsType, w.TypeString()}
	slices.Sort(refs)
	return w.TypeName() + " witness)" + strings.Join(refs, "")
}

// MessageType is the full EIP-712 type of the PermitWitnessTransferFrom
// message carrying witnesses of w's type.
func MessageType(w Witness) string { return witnessTransferPrefix + WitnessTypeString(w) }

// Permit is a PermitWitnessTransferFrom message: Spender may transfer up to
// Amount of Token from the signer, once per Nonce, until Deadline (unix
// seconds), under the terms of Witness. Integer fields are read, never
// modified; they must be in [0, 2^256-1].
type Permit struct {
	Token    common.Address
	Amount   *big.Int
	Spender  common.Address
	Nonce    *big.Int
	Deadline *big.Int
	Witness  Witness
}

// Validate reports whether the integer fields are in uint256 range and a
// witness is set.
func (p *Permit) Validate() error {
	if p == nil {
		return fmt.Errorf("%w: nil permit", ErrValueOutOfRange)
	}
	if p.Witness == nil {
		return errors.New("evm/permit2: permit has no witness")
	}
	for _, f := range []struct {
		name string
		v    *big.Int
	}{{"amount", p.Amount}, {"nonce", p.Nonce}, {"deadline", p.Deadline}} {
		if err := CheckUint256(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

// CheckUint256 returns an error wrapping [ErrValueOutOfRange], naming
// field, unless v is in [0, 2^256-1].
func CheckUint256(field string, v *big.Int) error {
	switch {
	case v == nil:
		return fmt.Errorf("%w: %s is nil", ErrValueOutOfRange, field)
	case v.Sign() < 0:
		return fmt.Errorf("%w: %s is negative", ErrValueOutOfRange, field)
	case v.BitLen() > 256:
		return fmt.Errorf("%w: %s exceeds 2^256-1", ErrValueOutOfRange, field)
	}
	return nil
}

// StructHash returns the EIP-712 hashStruct of the message.
func (p *Permit) StructHash() (common.Hash, error) {
	if err := p.Validate(); err != nil {
		return common.Hash{}, err
	}
	wh, err := p.Witness.StructHash()
	if err != nil {
		return common.Hash{}, err
	}
	var tp [3 * 32]byte
	copy(tp[0:32], crypto.Keccak256([]byte(TokenPermissionsType)))
	copy(tp[44:64], p.Token[:])
	p.Amount.FillBytes(tp[64:96])
	var buf [6 * 32]byte
	copy(buf[0:32], crypto.Keccak256([]byte(MessageType(p.Witness))))
	copy(buf[32:64], crypto.Keccak256(tp[:]))
	copy(buf[76:96], p.Spender[:])
	p.Nonce.FillBytes(buf[96:128])
	p.Deadline.FillBytes(buf[128:160])
	copy(buf[160:192], wh[:])
	return crypto.Keccak256Hash(buf[:]), nil
}

// Digest returns the EIP-712 digest keccak256(0x19 ‖ 0x01 ‖
// DomainSeparator(chainID) ‖ hashStruct(p)) the owner signs and Permit2
// verifies.
func (p *Permit) Digest(chainID uint64) (common.Hash, error) {
	return p.DigestAt(DomainSeparator(chainID))
}

// DigestAt is [Permit.Digest] under a precomputed domain separator.
func (p *Permit) DigestAt(domainSeparator common.Hash) (common.Hash, error) {
	sh, err := p.StructHash()
	if err != nil {
		return common.Hash{}, err
	}
	return TypedDataDigest(domainSeparator, sh), nil
}

// TypedDataDigest is keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash).
func TypedDataDigest(domainSeparator, structHash common.Hash) common.Hash {
	var buf [66]byte
	buf[0], buf[1] = 0x19, 0x01
	copy(buf[2:34], domainSeparator[:])
	copy(buf[34:66], structHash[:])
	return crypto.Keccak256Hash(buf[:])
}
