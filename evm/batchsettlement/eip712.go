package batchsettlement

import (
	"encoding/binary"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// EIP-712 types of the scheme, as the x402BatchSettlement contract and
// @x402/evm declare them.
const (
	ChannelConfigType = "ChannelConfig(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)"
	VoucherType       = "Voucher(bytes32 channelId,uint128 maxClaimableAmount)"
	RefundType        = "Refund(bytes32 channelId,uint256 nonce,uint128 amount)"
	ClaimEntryType    = "ClaimEntry(bytes32 channelId,uint128 maxClaimableAmount,uint128 totalClaimed)"
	// ClaimBatchType is the encoded type of ClaimBatch: the primary type
	// followed by the referenced ClaimEntry type, as EIP-712 requires.
	ClaimBatchType = "ClaimBatch(ClaimEntry[] claims)" + ClaimEntryType
	// ReceiveWithAuthorizationType is the EIP-3009 message a deposit signs,
	// in the token's own domain.
	ReceiveWithAuthorizationType = "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
)

// voucherTypeHash is keccak256(VoucherType), spelled out so that the hot
// path hashes nothing it does not have to; TestTypeHashes checks it.
const voucherTypeHash = "\x1e\x1b\xd6\xff\x84\xc3\xe0\xd9\x02\x9a\x29\x2b\x21\x2e\x03\x9c\x0c\xa9\x7e\xc4\x97\xc5\x51\x91\xa4\xa5\x87\x42\x94\x60\x9a\x69"

// fitsUint128 reports whether a fits a Solidity uint128.
func fitsUint128(a x402.Amount) bool {
	w := a.Words()
	return w[2] == 0 && w[3] == 0
}

// putWord writes a as a 32-byte big-endian word into dst.
func putWord(dst []byte, a x402.Amount) {
	w := a.Words()
	binary.BigEndian.PutUint64(dst[0:8], w[3])
	binary.BigEndian.PutUint64(dst[8:16], w[2])
	binary.BigEndian.PutUint64(dst[16:24], w[1])
	binary.BigEndian.PutUint64(dst[24:32], w[0])
}

// putAddress writes a left-padded address word into dst (32 bytes).
func putAddress(dst []byte, a common.Address) {
	clear(dst[:12])
	copy(dst[12:32], a[:])
}

// typedDigest returns keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ structHash),
// where structHash = keccak256(enc).
func typedDigest(domainSeparator common.Hash, enc []byte) common.Hash {
	var buf [66]byte
	kh := crypto.NewKeccakState()
	kh.Write(enc)
	kh.Read(buf[34:66])
	buf[0], buf[1] = 0x19, 0x01
	copy(buf[2:34], domainSeparator[:])
	kh.Reset()
	kh.Write(buf[:])
	var out common.Hash
	kh.Read(out[:])
	return out
}

// StructHash returns the EIP-712 hashStruct of the config.
//
// WithdrawDelay is encoded as the full uint64: a value above 2^40-1, which
// no contract call can carry, yields a hash no valid config has, so it never
// collides with a real channel's id ([ChannelConfig.Validate] rejects it).
func (c *ChannelConfig) StructHash() common.Hash {
	var enc [8 * 32]byte
	h := crypto.Keccak256Hash([]byte(ChannelConfigType))
	copy(enc[0:32], h[:])
	c.encode(enc[32:])
	return crypto.Keccak256Hash(enc[:])
}

// encode writes the seven words of the config into dst (224 bytes).
func (c *ChannelConfig) encode(dst []byte) {
	putAddress(dst[0:32], c.Payer)
	putAddress(dst[32:64], c.PayerAuthorizer)
	putAddress(dst[64:96], c.Receiver)
	putAddress(dst[96:128], c.ReceiverAuthorizer)
	putAddress(dst[128:160], c.Token)
	clear(dst[160:192])
	binary.BigEndian.PutUint64(dst[184:192], c.WithdrawDelay)
	copy(dst[192:224], c.Salt[:])
}

// ChannelID returns the channel's id on chainID: the EIP-712 typed-data hash
// of the config in the scheme's domain ([Domain]), as the contract's
// getChannelId computes it.
func ChannelID(c ChannelConfig, chainID uint64) common.Hash {
	return ChannelIDWithSeparator(c, Domain(chainID).Separator())
}

// ChannelIDWithSeparator is [ChannelID] with the domain separator
// precomputed (see [DomainSeparator]).
func ChannelIDWithSeparator(c ChannelConfig, domainSeparator common.Hash) common.Hash {
	var enc [8 * 32]byte
	h := crypto.Keccak256Hash([]byte(ChannelConfigType))
	copy(enc[0:32], h[:])
	c.encode(enc[32:])
	return typedDigest(domainSeparator, enc[:])
}

// DomainSeparator returns the separator of the scheme's domain on chainID.
func DomainSeparator(chainID uint64) common.Hash { return Domain(chainID).Separator() }

// VoucherDigest returns the EIP-712 digest of Voucher{channelId,
// maxClaimableAmount} that the payer authorizer signs, given the separator
// of the scheme's domain ([DomainSeparator]). It does not allocate. The
// amount must fit a uint128 (the parsers ensure it); a larger one yields a
// digest no contract would compute.
func VoucherDigest(domainSeparator, channelID common.Hash, maxClaimableAmount x402.Amount) common.Hash {
	var enc [3 * 32]byte
	copy(enc[0:32], voucherTypeHash)
	copy(enc[32:64], channelID[:])
	putWord(enc[64:96], maxClaimableAmount)
	return typedDigest(domainSeparator, enc[:])
}

// RefundDigest returns the EIP-712 digest of Refund{channelId, nonce,
// amount} that the receiver authorizer signs for refundWithSignature.
func RefundDigest(domainSeparator, channelID common.Hash, nonce, amount x402.Amount) common.Hash {
	var enc [4 * 32]byte
	h := crypto.Keccak256Hash([]byte(RefundType))
	copy(enc[0:32], h[:])
	copy(enc[32:64], channelID[:])
	putWord(enc[64:96], nonce)
	putWord(enc[96:128], amount)
	return typedDigest(domainSeparator, enc[:])
}

// ClaimEntry is one row of a ClaimBatch: the channel, the voucher's
// cumulative ceiling and the total the receiver claims up to.
type ClaimEntry struct {
	ChannelID          common.Hash
	MaxClaimableAmount x402.Amount
	TotalClaimed       x402.Amount
}

// ClaimBatchDigest returns the EIP-712 digest of ClaimBatch{claims} that
// the receiver authorizer signs for claimWithSignature. The array is
// encoded as EIP-712 requires: keccak256 of the concatenated struct hashes
// of its entries.
func ClaimBatchDigest(domainSeparator common.Hash, entries []ClaimEntry) common.Hash {
	entryType := crypto.Keccak256Hash([]byte(ClaimEntryType))
	arr := crypto.NewKeccakState()
	var enc [4 * 32]byte
	copy(enc[0:32], entryType[:])
	var h common.Hash
	for i := range entries {
		copy(enc[32:64], entries[i].ChannelID[:])
		putWord(enc[64:96], entries[i].MaxClaimableAmount)
		putWord(enc[96:128], entries[i].TotalClaimed)
		h = crypto.Keccak256Hash(enc[:])
		arr.Write(h[:])
	}
	var outer [2 * 32]byte
	batchType := crypto.Keccak256Hash([]byte(ClaimBatchType))
	copy(outer[0:32], batchType[:])
	arr.Read(outer[32:64])
	return typedDigest(domainSeparator, outer[:])
}

// ERC3009DepositNonce returns the EIP-3009 nonce of a deposit
// authorization: keccak256(abi.encode(bytes32 channelId, uint256 salt)),
// which binds the authorization to one channel (the collector recomputes
// it from the channel it deposits into and the salt it is given).
func ERC3009DepositNonce(channelID, salt common.Hash) common.Hash {
	var enc [64]byte
	copy(enc[0:32], channelID[:])
	copy(enc[32:64], salt[:])
	return crypto.Keccak256Hash(enc[:])
}

// ReceiveAuthorizationDigest returns the EIP-712 digest of the EIP-3009
// ReceiveWithAuthorization message a in the token's domain (whose
// separator is tokenDomainSeparator, see [evm.Domain.Separator]). It
// returns an error wrapping [evm.ErrValueOutOfRange] for an out-of-range
// integer field.
func ReceiveAuthorizationDigest(tokenDomainSeparator common.Hash, a *evm.Authorization) (common.Hash, error) {
	if err := a.Validate(); err != nil {
		return common.Hash{}, err
	}
	var enc [7 * 32]byte
	h := crypto.Keccak256Hash([]byte(ReceiveWithAuthorizationType))
	copy(enc[0:32], h[:])
	putAddress(enc[32:64], a.From)
	putAddress(enc[64:96], a.To)
	a.Value.FillBytes(enc[96:128])
	a.ValidAfter.FillBytes(enc[128:160])
	a.ValidBefore.FillBytes(enc[160:192])
	copy(enc[192:224], a.Nonce[:])
	return typedDigest(tokenDomainSeparator, enc[:]), nil
}

// errf builds a typed x402 error.
func errf(reason x402.Reason, format string, args ...any) *x402.Error {
	return &x402.Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}
