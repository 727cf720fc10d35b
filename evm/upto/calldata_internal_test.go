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
	c, ok := parseSettleCalldata(data)
	if !ok || !c.settles(p) || c.amount.Int64() != 1858 {
		f.Fatalf("read back %+v %v", c, ok)
	}
	// A permit under the same owner and nonce that differs in token,
	// payee or facilitator is not p's settlement.
	for _, other := range []Permit{{Token: p.To}, {To: p.Token}, {Facilitator: p.To}} {
		q := *p
		if other.Token != (common.Address{}) {
			q.Token = other.Token
		}
		if other.To != (common.Address{}) {
			q.To = other.To
		}
		if other.Facilitator != (common.Address{}) {
			q.Facilitator = other.Facilitator
		}
		d, err := SettleCalldata(&q, big.NewInt(1), make([]byte, 65))
		if err != nil {
			f.Fatal(err)
		}
		if c, ok := parseSettleCalldata(d); !ok || c.settles(p) {
			f.Fatalf("a settlement of %+v counts as p's", q)
		}
	}
	f.Add(data)
	f.Add(data[:100])
	f.Add(append(selSettleWithPermit[:], data[4:]...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := parseSettleCalldata(b)
		if ok && (c.nonce == nil || c.amount == nil || len(b) < 4) {
			t.Fatalf("ok with a partial result for %x", b)
		}
	})
}
