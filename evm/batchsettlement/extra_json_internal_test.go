package batchsettlement

import (
	"bytes"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/x402"
)

// referenceChannelState is the reflective encoding appendChannelState
// replaces.
func referenceChannelState(s ChannelState) []byte {
	var w channelStateJSON
	if s.HasChannelID {
		w.ChannelID = s.ChannelID.Hex()
	}
	if s.HasBalance {
		w.Balance = &s.Balance
	}
	if s.HasTotalClaimed {
		w.TotalClaimed = &s.TotalClaimed
	}
	if s.HasWithdrawRequestedAt {
		w.WithdrawRequestedAt = &s.WithdrawRequestedAt
	}
	if s.HasRefundNonce {
		w.RefundNonce = &s.RefundNonce
	}
	if s.HasCharged {
		w.ChargedCumulativeAmount = &s.ChargedCumulativeAmount
	}
	b, err := json.Marshal(w)
	if err != nil {
		panic(err)
	}
	return b
}

func TestChannelStateEncodingMatchesReflection(t *testing.T) {
	huge, err := x402.AmountFromBig(new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	for mask := range 64 {
		for _, large := range []bool{false, true} {
			s := ChannelState{
				ChannelID: common.HexToHash("0xAbCd01"), Balance: x402.NewAmount(5000), TotalClaimed: x402.NewAmount(0),
				WithdrawRequestedAt: 1_700_000_000, RefundNonce: x402.NewAmount(3), ChargedCumulativeAmount: x402.NewAmount(1000),
				HasChannelID: mask&1 != 0, HasBalance: mask&2 != 0, HasTotalClaimed: mask&4 != 0,
				HasWithdrawRequestedAt: mask&8 != 0, HasRefundNonce: mask&16 != 0, HasCharged: mask&32 != 0,
			}
			if large {
				s.Balance, s.ChargedCumulativeAmount, s.WithdrawRequestedAt = huge, huge, 0
			}
			got, err := s.MarshalJSON()
			if err != nil || !bytes.Equal(got, referenceChannelState(s)) {
				t.Fatalf("mask %d: %s, want %s (%v)", mask, got, referenceChannelState(s), err)
			}
			price := x402.NewAmount(1000)
			for _, e := range []ResponseExtra{{}, {ChargedAmount: &price}, {ChannelState: &s}, {ChargedAmount: &price, ChannelState: &s}} {
				got, err := e.Object()
				want, werr := x402.NewObject(e)
				if err != nil || werr != nil || !bytes.Equal(got, want) {
					t.Fatalf("extra %+v: %s, want %s (%v %v)", e, got, want, err, werr)
				}
			}
		}
	}
}
