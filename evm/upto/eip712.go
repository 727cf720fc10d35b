package upto

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// EIP-712 types of an upto authorization. The witness type string is what
// the proxy passes to Permit2's permitWitnessTransferFrom; the full type is
// Permit2's stub followed by it.
const (
	WitnessType       = "Witness(address to,address facilitator,uint256 validAfter)"
	TokenPermissions  = "TokenPermissions(address token,uint256 amount)"
	WitnessTypeString = "Witness witness)" + TokenPermissions + WitnessType
	PermitType        = "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline," + WitnessTypeString
	domainType        = "EIP712Domain(string name,uint256 chainId,address verifyingContract)"
)

var (
	domainTypeHash      = crypto.Keccak256Hash([]byte(domainType))
	permit2NameHash     = crypto.Keccak256Hash([]byte("Permit2"))
	tokenPermissionHash = crypto.Keccak256Hash([]byte(TokenPermissions))
	witnessTypeHash     = crypto.Keccak256Hash([]byte(WitnessType))
	permitTypeHash      = crypto.Keccak256Hash([]byte(PermitType))
)

// DomainSeparator is Permit2's EIP-712 domain separator on chainID:
// {name "Permit2", chainId, verifyingContract Permit2} (no version).
func DomainSeparator(chainID uint64) common.Hash {
	var buf [4 * 32]byte
	copy(buf[0:], domainTypeHash[:])
	copy(buf[32:], permit2NameHash[:])
	new(big.Int).SetUint64(chainID).FillBytes(buf[64:96])
	p := Permit2Address()
	copy(buf[96+12:], p[:])
	return crypto.Keccak256Hash(buf[:])
}

// Digest is the EIP-712 digest the payer signs for p on chainID. p's
// integers must be in uint256 range (as [Decode] guarantees).
func (p *Permit) Digest(chainID uint64) common.Hash {
	var w [4 * 32]byte
	copy(w[0:], witnessTypeHash[:])
	copy(w[32+12:], p.To[:])
	copy(w[64+12:], p.Facilitator[:])
	p.ValidAfter.FillBytes(w[96:128])
	witness := crypto.Keccak256Hash(w[:])

	var t [3 * 32]byte
	copy(t[0:], tokenPermissionHash[:])
	copy(t[32+12:], p.Token[:])
	p.Amount.FillBytes(t[64:96])
	permitted := crypto.Keccak256Hash(t[:])

	var s [6 * 32]byte
	copy(s[0:], permitTypeHash[:])
	copy(s[32:], permitted[:])
	copy(s[64+12:], p.Spender[:])
	p.Nonce.FillBytes(s[96:128])
	p.Deadline.FillBytes(s[128:160])
	copy(s[160:], witness[:])
	structHash := crypto.Keccak256Hash(s[:])

	sep := DomainSeparator(chainID)
	return crypto.Keccak256Hash([]byte{0x19, 0x01}, sep[:], structHash[:])
}

// Proxy and token function selectors.
var (
	selSettle = selector("settle(((address,uint256),uint256,uint256),uint256,address,(address,address,uint256),bytes)")
	// selPermit2 is the proxy's PERMIT2() getter.
	selPermit2     = selector("PERMIT2()")
	selBalanceOf   = selector("balanceOf(address)")
	selAllowance   = selector("allowance(address,address)")
	selNonceBitmap = selector("nonceBitmap(address,uint256)")
)

func selector(sig string) [4]byte { return [4]byte(crypto.Keccak256([]byte(sig))[:4]) }

// SettleCalldata ABI-encodes the proxy's settle(permit, amount, owner,
// witness, signature) transferring amount (at most p.Amount) under p.
func SettleCalldata(p *Permit, amount *big.Int, sig []byte) []byte {
	const head = 10 * 32
	padded := (len(sig) + 31) / 32 * 32
	out := make([]byte, 4+head+32+padded)
	copy(out, selSettle[:])
	w := out[4:]
	copy(w[12:32], p.Token[:])
	p.Amount.FillBytes(w[32:64])
	p.Nonce.FillBytes(w[64:96])
	p.Deadline.FillBytes(w[96:128])
	amount.FillBytes(w[128:160])
	copy(w[160+12:192], p.From[:])
	copy(w[192+12:224], p.To[:])
	copy(w[224+12:256], p.Facilitator[:])
	p.ValidAfter.FillBytes(w[256:288])
	new(big.Int).SetUint64(head).FillBytes(w[288:320])
	new(big.Int).SetUint64(uint64(len(sig))).FillBytes(w[320:352])
	copy(w[352:], sig)
	return out
}

// parseSettleCalldata reads the owner, nonce and amount of a settle call
// (ok false if data is not one).
func parseSettleCalldata(data []byte) (owner common.Address, nonce, amount *big.Int, ok bool) {
	if len(data) < 4+11*32 || [4]byte(data[:4]) != selSettle {
		return common.Address{}, nil, nil, false
	}
	w := data[4:]
	return common.BytesToAddress(w[160:192]), new(big.Int).SetBytes(w[64:96]), new(big.Int).SetBytes(w[128:160]), true
}

func packAddresses(sel [4]byte, addrs ...common.Address) []byte {
	out := make([]byte, 4+32*len(addrs))
	copy(out, sel[:])
	for i, a := range addrs {
		copy(out[4+32*i+12:], a[:])
	}
	return out
}

// packNonceBitmap is nonceBitmap(owner, wordPos) of Permit2: the word of
// the owner's nonce bitmap holding nonce (nonce >> 8).
func packNonceBitmap(owner common.Address, nonce *big.Int) []byte {
	out := packAddresses(selNonceBitmap, owner, common.Address{})
	new(big.Int).Rsh(nonce, 8).FillBytes(out[4+32:])
	return out
}

// nonceUsed reports whether bit (nonce & 0xff) of the bitmap word is set.
func nonceUsed(word []byte, nonce *big.Int) bool {
	bit := new(big.Int).And(nonce, big.NewInt(0xff)).Uint64() // the nonce's low byte
	return new(big.Int).SetBytes(word).Bit(int(bit)) == 1
}
