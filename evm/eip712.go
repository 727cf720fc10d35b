package evm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// EIP712DomainType is the EIP-712 type of the domains this package hashes:
// all four of name, version, chainId and verifyingContract, in that order, as
// USDC and other EIP-3009 tokens declare them. A domain without salt is the
// only shape x402 uses.
const EIP712DomainType = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"

// TransferWithAuthorizationType is the EIP-712 type of the EIP-3009 message
// an x402 `exact` payment signs.
const TransferWithAuthorizationType = "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"

// Type hashes, computed once. They are never written after initialisation.
var (
	eip712DomainTypeHash              = crypto.Keccak256Hash([]byte(EIP712DomainType))
	transferWithAuthorizationTypeHash = crypto.Keccak256Hash([]byte(TransferWithAuthorizationType))
)

// ErrValueOutOfRange is wrapped by the errors returned for an [Authorization]
// whose integer fields are nil, negative or above 2^256-1, the range of a
// Solidity uint256.
var ErrValueOutOfRange = errors.New("evm: value out of uint256 range")

// Domain is an EIP-712 domain of the shape [EIP712DomainType].
//
// ChainID is a uint64: every EVM chain id in use fits, and a fixed-size
// comparable Domain can key a map (see [DomainCache]) without allocating.
type Domain struct {
	// Name is the token's EIP-712 name, for example "USD Coin" (Base
	// mainnet USDC) or "USDC" (Base Sepolia USDC). It is hashed as UTF-8
	// bytes, exactly as given.
	Name string
	// Version is the token's EIP-712 version, for example "2".
	Version string
	// ChainID is the EIP-155 chain id, for example 8453 for Base.
	ChainID uint64
	// VerifyingContract is the token contract.
	VerifyingContract common.Address
}

// Separator returns the EIP-712 domain separator hashStruct(domain). It costs
// three Keccak-256 computations; use a [DomainCache] on hot paths.
func (d Domain) Separator() common.Hash {
	buf := new([5 * 32]byte)
	copy(buf[0:32], eip712DomainTypeHash[:])
	kh := crypto.NewKeccakState()
	kh.Write([]byte(d.Name))
	kh.Read(buf[32:64])
	kh.Reset()
	kh.Write([]byte(d.Version))
	kh.Read(buf[64:96])
	binary.BigEndian.PutUint64(buf[120:128], d.ChainID)
	copy(buf[140:160], d.VerifyingContract[:])
	kh.Reset()
	kh.Write(buf[:])
	kh.Read(buf[:32])
	return common.Hash(buf[:32])
}

// DefaultDomainCacheSize is the number of separators a [DomainCache] keeps
// when it was not given a size.
const DefaultDomainCacheSize = 128

// maxCachedDomainString bounds the name and version length of a cached
// domain, so that a cache fed with adversarial domains stays small in bytes
// and not only in entries. Longer domains are hashed on every call.
const maxCachedDomainString = 256

// DomainCache memoises [Domain.Separator] for a bounded number of domains,
// keyed by chain id, verifying contract, name and version. It is safe for
// concurrent use. The zero value is ready to use and holds up to
// [DefaultDomainCacheSize] domains.
//
// A facilitator sees one domain per token per network, so the cache is sized
// for a handful of entries; when it is full an arbitrary entry is evicted.
type DomainCache struct {
	mu  sync.RWMutex
	m   map[Domain]common.Hash
	max int
}

// NewDomainCache returns a cache that holds up to maxEntries separators;
// maxEntries <= 0 means [DefaultDomainCacheSize].
func NewDomainCache(maxEntries int) *DomainCache {
	if maxEntries <= 0 {
		maxEntries = DefaultDomainCacheSize
	}
	return &DomainCache{max: maxEntries}
}

// Separator returns d.Separator(), computing it at most once while d stays
// in the cache. A hit takes a read lock and does not allocate.
func (c *DomainCache) Separator(d Domain) common.Hash {
	c.mu.RLock()
	h, ok := c.m[d]
	c.mu.RUnlock()
	if ok {
		return h
	}
	h = d.Separator()
	if len(d.Name) > maxCachedDomainString || len(d.Version) > maxCachedDomainString {
		return h
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[Domain]common.Hash)
	}
	limit := c.max
	if limit <= 0 {
		limit = DefaultDomainCacheSize
	}
	if _, ok := c.m[d]; !ok && len(c.m) >= limit {
		for k := range c.m { // map iteration order is unspecified: evict any one
			delete(c.m, k)
			break
		}
	}
	c.m[d] = h
	return h
}

// Len returns the number of cached separators.
func (c *DomainCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// Authorization is an EIP-3009 TransferWithAuthorization message: From
// authorises the transfer of Value token units to To, valid for blocks with
// ValidAfter < timestamp < ValidBefore, once per (From, Nonce).
//
// Value, ValidAfter and ValidBefore are Solidity uint256 values: they must be
// non-nil and in [0, 2^256-1]; [Authorization.Validate] checks it, and the
// hashing functions return an error wrapping [ErrValueOutOfRange] otherwise.
// They are read, never modified.
type Authorization struct {
	From        common.Address
	To          common.Address
	Value       *big.Int
	ValidAfter  *big.Int
	ValidBefore *big.Int
	Nonce       [32]byte
}

// Validate reports whether the integer fields are in uint256 range.
func (a *Authorization) Validate() error {
	if a == nil {
		return fmt.Errorf("%w: nil authorization", ErrValueOutOfRange)
	}
	if err := checkUint256("value", a.Value); err != nil {
		return err
	}
	if err := checkUint256("validAfter", a.ValidAfter); err != nil {
		return err
	}
	return checkUint256("validBefore", a.ValidBefore)
}

func checkUint256(field string, v *big.Int) error {
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

// encodeStruct writes the EIP-712 encoding of the message, typeHash ‖ from ‖
// to ‖ value ‖ validAfter ‖ validBefore ‖ nonce, into buf.
func (a *Authorization) encodeStruct(buf *[7 * 32]byte) error {
	if err := a.Validate(); err != nil {
		return err
	}
	*buf = [7 * 32]byte{}
	copy(buf[0:32], transferWithAuthorizationTypeHash[:])
	copy(buf[44:64], a.From[:])
	copy(buf[76:96], a.To[:])
	a.Value.FillBytes(buf[96:128])
	a.ValidAfter.FillBytes(buf[128:160])
	a.ValidBefore.FillBytes(buf[160:192])
	copy(buf[192:224], a.Nonce[:])
	return nil
}

// StructHash returns the EIP-712 hashStruct of the message.
func (a *Authorization) StructHash() (common.Hash, error) {
	var buf [7 * 32]byte
	if err := a.encodeStruct(&buf); err != nil {
		return common.Hash{}, err
	}
	return crypto.Keccak256Hash(buf[:]), nil
}

// TransferWithAuthorizationDigest returns the EIP-712 digest
// keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(a)) that the payer
// signs and the token contract recovers the signer from. It equals the
// generic EIP-712 typed-data hash of the same message, with the type hash
// precomputed and the encoding in one fixed-size buffer. It allocates at
// most twice (the buffer and a Keccak state), and not at all where the
// compiler keeps both on the stack, as Go 1.26 does.
//
// It returns an error wrapping [ErrValueOutOfRange] if a is nil or one of its
// integer fields is nil, negative or above 2^256-1.
func TransferWithAuthorizationDigest(domainSeparator common.Hash, a *Authorization) (common.Hash, error) {
	buf := new([7 * 32]byte)
	if err := a.encodeStruct(buf); err != nil {
		return common.Hash{}, err
	}
	kh := crypto.NewKeccakState()
	kh.Write(buf[:])
	kh.Read(buf[34:66]) // hashStruct(a), right where the final encoding wants it
	buf[0], buf[1] = 0x19, 0x01
	copy(buf[2:34], domainSeparator[:])
	kh.Reset()
	kh.Write(buf[:66])
	kh.Read(buf[:32])
	return common.Hash(buf[:32]), nil
}
