package permit2

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// EIP-2612 types.
const (
	// TokenDomainType is the EIP-712 domain type of an EIP-2612 token.
	TokenDomainType = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
	// EIP2612PermitType is the EIP-2612 Permit message type.
	EIP2612PermitType = "Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"
)

// TokenDomainSeparator returns the EIP-712 domain separator of an EIP-2612
// token: its EIP-712 name and version (requirements.extra.name and
// .version), the chain and the token contract.
func TokenDomainSeparator(name, version string, chainID uint64, token common.Address) common.Hash {
	var buf [5 * 32]byte
	copy(buf[0:32], crypto.Keccak256([]byte(TokenDomainType)))
	copy(buf[32:64], crypto.Keccak256([]byte(name)))
	copy(buf[64:96], crypto.Keccak256([]byte(version)))
	new(big.Int).SetUint64(chainID).FillBytes(buf[96:128])
	copy(buf[140:160], token[:])
	return crypto.Keccak256Hash(buf[:])
}

// EIP2612Permit is an EIP-2612 Permit: Owner lets Spender (Permit2, for the
// gas-sponsoring extension) spend Value of the token, with the owner's
// current token nonce, until Deadline (unix seconds).
type EIP2612Permit struct {
	Owner    common.Address
	Spender  common.Address
	Value    *big.Int
	Nonce    *big.Int
	Deadline *big.Int
}

// StructHash returns hashStruct(permit).
func (p *EIP2612Permit) StructHash() (common.Hash, error) {
	for _, f := range []struct {
		name string
		v    *big.Int
	}{{"value", p.Value}, {"nonce", p.Nonce}, {"deadline", p.Deadline}} {
		if err := CheckUint256(f.name, f.v); err != nil {
			return common.Hash{}, err
		}
	}
	var buf [6 * 32]byte
	copy(buf[0:32], crypto.Keccak256([]byte(EIP2612PermitType)))
	copy(buf[44:64], p.Owner[:])
	copy(buf[76:96], p.Spender[:])
	p.Value.FillBytes(buf[96:128])
	p.Nonce.FillBytes(buf[128:160])
	p.Deadline.FillBytes(buf[160:192])
	return crypto.Keccak256Hash(buf[:]), nil
}

// Digest returns the digest the owner signs, under the token's domain
// separator (see [TokenDomainSeparator]).
func (p *EIP2612Permit) Digest(tokenDomainSeparator common.Hash) (common.Hash, error) {
	sh, err := p.StructHash()
	if err != nil {
		return common.Hash{}, err
	}
	return TypedDataDigest(tokenDomainSeparator, sh), nil
}
