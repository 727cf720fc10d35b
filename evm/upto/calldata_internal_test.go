package upto

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// FuzzParseSettleCalldata: the settle calldata reader (run on transactions
// read from the chain by Reconcile and Client.SettledAmount) never panics,
// and reads back what SettleCalldata packed.
func FuzzParseSettleCalldata(f *testing.F) {
	p := &Permit{
		From: common.HexToAddress("0x857b06519E91e3A54538791bDbb0E22373e36b66"), Token: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"),
		Amount: big.NewInt(5_000_000), Spender: ProxyAddress(), Nonce: big.NewInt(42), Deadline: big.NewInt(1_740_672_154),
		To: common.HexToAddress("0x209693Bc6afc0C5328bA36FaF03C514EF312287C"), Facilitator: common.HexToAddress("0x1111111111111111111111111111111111111111"), ValidAfter: new(big.Int),
	}
	data, err := SettleCalldata(p, big.NewInt(1858), make([]byte, 65))
	if err != nil {
		f.Fatal(err)
	}
	owner, nonce, amount, ok := parseSettleCalldata(data)
	if !ok || owner != p.From || nonce.Int64() != 42 || amount.Int64() != 1858 {
		f.Fatalf("read back %s %s %s %v", owner.Hex(), nonce, amount, ok)
	}
	f.Add(data)
	f.Add(data[:100])
	f.Add(append(selSettleWithPermit[:], data[4:]...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		owner, nonce, amount, ok := parseSettleCalldata(b)
		if ok && (nonce == nil || amount == nil || owner == (common.Address{}) && len(b) < 4) {
			t.Fatalf("ok with a partial result for %x", b)
		}
	})
}
