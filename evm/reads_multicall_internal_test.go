package evm

import (
	"bytes"
	"math/big"
	"slices"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
)

func TestAggregate3Codec(t *testing.T) {
	token := common.HexToAddress("0x1111111111111111111111111111111111111111")
	a := &aggregate{target: token,
		reads: []*ethCall{{msg: ethereum.CallMsg{To: &token, Data: packBalanceOf(common.HexToAddress("0xaa"))}}},
		sims:  []*ethCall{{msg: ethereum.CallMsg{To: &token, Data: bytes.Repeat([]byte{7}, 37)}, transfer: true}, {msg: ethereum.CallMsg{To: &token}, transfer: true}},
	}
	want, err := aggregate3.Inputs.Pack([]call3{
		{Target: token, AllowFailure: true, CallData: a.reads[0].msg.Data},
		{Target: token, AllowFailure: true, CallData: a.sims[0].msg.Data},
		{Target: token, AllowFailure: true, CallData: nil},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.calldata(); !bytes.Equal(got[:4], aggregate3.ID) || !bytes.Equal(got[4:], want) {
		t.Fatalf("calldata differs from the ABI encoding:\n got %x\nwant %x%x", got, aggregate3.ID, want)
	}

	type result struct {
		Success    bool
		ReturnData []byte
	}
	answer, err := aggregate3.Outputs.Pack([]result{{true, common.LeftPadBytes(big.NewInt(5).Bytes(), 32)}, {false, []byte{0xe4, 0x50, 0xd3, 0x8c, 1}}, {true, nil}})
	if err != nil {
		t.Fatal(err)
	}
	a.out = answer
	if err := a.settle(); err != nil {
		t.Fatal(err)
	}
	if r := a.reads[0]; r.err != nil || new(big.Int).SetBytes(r.out).Int64() != 5 {
		t.Errorf("read: %x %v", r.out, r.err)
	}
	rev := revertFromError(a.sims[0].err)
	if rev == nil || !bytes.Equal(rev.Data, []byte{0xe4, 0x50, 0xd3, 0x8c, 1}) || reasonForRevert(rev) != "invalid_exact_evm_insufficient_balance" {
		t.Errorf("failed call: %v %+v", a.sims[0].err, rev)
	}
	if s := a.sims[1]; s.err != nil || len(s.out) != 0 {
		t.Errorf("empty success: %x %v", s.out, s.err)
	}
	// Every truncation, and a wrong count, is refused, never a panic.
	for i := range answer {
		if _, err := decodeAggregate3(answer[:i], 3); err == nil {
			t.Errorf("answer cut to %d bytes was accepted", i)
		}
	}
	if _, err := decodeAggregate3(answer, 2); err == nil {
		t.Error("3 results accepted for 2 calls")
	}
}

func FuzzDecodeAggregate3(f *testing.F) {
	answer, _ := aggregate3.Outputs.Pack([]struct {
		Success    bool
		ReturnData []byte
	}{{true, []byte{1, 2, 3}}})
	f.Add(answer, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		res, err := decodeAggregate3(b, n)
		if err == nil && len(res) != n {
			t.Fatalf("%d results for %d", len(res), n)
		}
	})
}

// TestPlanAggregates: reads go first, and no simulated transfer shares an
// aggregate with one whose payer or payee is its payer.
func TestPlanAggregates(t *testing.T) {
	tokA, tokB := common.HexToAddress("0xa0"), common.HexToAddress("0xb0")
	p1, p2, p3, shop := common.HexToAddress("0x01"), common.HexToAddress("0x02"), common.HexToAddress("0x03"), common.HexToAddress("0x5")
	read := func(tok common.Address) *ethCall { return &ethCall{msg: ethereum.CallMsg{To: &tok}} }
	sim := func(tok, from, to common.Address) *ethCall {
		return &ethCall{msg: ethereum.CallMsg{To: &tok, From: common.HexToAddress("0xfac")}, transfer: true, payer: from, payee: to}
	}
	valued := read(tokA)
	valued.msg.Value = big.NewInt(1)
	calls := []*ethCall{
		0: sim(tokA, p1, shop), 1: read(tokA), 2: sim(tokA, p1, shop), 3: sim(tokA, p2, shop),
		4: sim(tokB, p1, shop), 5: sim(tokA, p3, p2), 6: sim(tokA, shop, p3), 7: valued, 8: read(tokB),
	}
	aggs, direct := planAggregates(calls, 96)
	index := map[*ethCall]int{}
	for i, c := range calls {
		index[c] = i
	}
	var got [][]int
	for _, a := range aggs {
		var ids []int
		for _, c := range a.calls() {
			ids = append(ids, index[c])
		}
		got = append(got, ids)
	}
	// Token A: the read first, then p1 and p2; p1's second payment and
	// p3 paying p2 (who pays in the first) in a second; shop, paid in
	// both, pays in a third. Token B's calls are an aggregate of their own.
	want := [][]int{{1, 0, 3}, {2, 5}, {8, 4}, {6}}
	if len(direct) != 1 || direct[0] != calls[7] {
		t.Errorf("direct calls: %v", direct)
	}
	if len(got) != len(want) {
		t.Fatalf("aggregates %v, want %v", got, want)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("aggregates %v, want %v", got, want)
			break
		}
	}
	// A size bound splits aggregates.
	if aggs, _ := planAggregates([]*ethCall{read(tokA), read(tokA), read(tokA)}, 2); len(aggs) != 2 {
		t.Errorf("%d aggregates for 3 reads of at most 2", len(aggs))
	}
}
