package upto

import (
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm/permit2"
)

// Token, Permit2 and proxy function selectors of the facilitator's reads.
var (
	selSettle           = selector("settle(((address,uint256),uint256,uint256),uint256,address,(address,address,uint256),bytes)")
	selSettleWithPermit = selector("settleWithPermit((uint256,uint256,bytes32,bytes32,uint8),((address,uint256),uint256,uint256),uint256,address,(address,address,uint256),bytes)")
	selPermit2          = selector("PERMIT2()")
	selBalanceOf        = selector("balanceOf(address)")
	selAllowance        = selector("allowance(address,address)")
	selNonceBitmap      = selector("nonceBitmap(address,uint256)")
	selNonces           = selector("nonces(address)")
)

func selector(sig string) [4]byte { return [4]byte(crypto.Keccak256([]byte(sig))[:4]) }

// SettleCalldata ABI-encodes the upto proxy's settle(permit, amount,
// owner, witness, signature) transferring amount (at most p.Amount) under
// p ([permit2.PackSettle]).
func SettleCalldata(p *Permit, amount *big.Int, sig []byte) ([]byte, error) {
	return settleCalldata(p, amount, sig, nil)
}

// settleCalldata is SettleCalldata, or settleWithPermit submitting the
// payer's EIP-2612 permit to Permit2 first when sponsor is set.
func settleCalldata(p *Permit, amount *big.Int, sig []byte, sponsor *permit2.GasSponsoring) ([]byte, error) {
	return permit2.PackSettle(&permit2.Settlement{Owner: p.From, Permit: p.Message(), Signature: sig, Amount: amount, Sponsor: sponsor})
}

// settleCall is what a settle or settleWithPermit call names: the signed
// permit's owner, token, nonce, witness payee and witness facilitator, and
// the amount transferred.
type settleCall struct {
	owner, token, to, facilitator common.Address
	nonce, amount                 *big.Int
}

// settles reports whether c settles pm itself: the same owner and nonce
// and the same token, payee and facilitator. Owner and nonce alone are not
// enough: a payer can sign a second permit under the nonce (another token,
// payee or facilitator) and settle it first; that transaction is not the
// payment pm authorized.
func (c *settleCall) settles(pm *Permit) bool {
	return c.owner == pm.From && c.nonce.Cmp(pm.Nonce) == 0 && c.token == pm.Token && c.to == pm.To && c.facilitator == pm.Facilitator
}

// parseSettleCalldata reads a settle or settleWithPermit call (ok false if
// data is neither).
func parseSettleCalldata(data []byte) (c settleCall, ok bool) {
	if len(data) < 4 {
		return c, false
	}
	w := data[4:]
	switch [4]byte(data[:4]) {
	case selSettle:
	case selSettleWithPermit:
		if len(w) < 5*32 {
			return c, false
		}
		w = w[5*32:] // the EIP-2612 permit (value, deadline, r, s, v) comes first
	default:
		return c, false
	}
	if len(w) < 11*32 {
		return c, false
	}
	// permit{permitted{token, amount}, nonce, deadline}, amount, owner,
	// witness{to, facilitator, validAfter}, signature.
	return settleCall{
		token: common.BytesToAddress(w[0:32]), nonce: new(big.Int).SetBytes(w[64:96]),
		amount: new(big.Int).SetBytes(w[128:160]), owner: common.BytesToAddress(w[160:192]),
		to: common.BytesToAddress(w[192:224]), facilitator: common.BytesToAddress(w[224:256]),
	}, true
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
