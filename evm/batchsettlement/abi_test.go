package batchsettlement

import (
	"testing"

	"github.com/go402/go402/x402"
)

func TestDecodeChannels(t *testing.T) {
	ret := make([]byte, 64)
	putWord(ret[0:32], x402.NewAmount(1_000_000))
	putWord(ret[32:64], x402.NewAmount(250))
	b, c, err := DecodeChannels(ret)
	if err != nil || b != x402.NewAmount(1_000_000) || c != x402.NewAmount(250) {
		t.Fatalf("%v %v %v", b, c, err)
	}
	for _, bad := range [][]byte{nil, ret[:63]} {
		if _, _, err := DecodeChannels(bad); err == nil {
			t.Errorf("decoded %x", bad)
		}
	}
}

func TestEncodeDepositNeedsERC3009(t *testing.T) {
	p := samplePayloads(t)[TypeDeposit].(*DepositPayload)
	q := *p
	q.Deposit.Authorization.ERC3009Authorization = nil
	if _, err := EncodeDeposit(&q); x402.ReasonOf(err) != x402.ReasonBatchERC3009AuthorizationNeeded {
		t.Fatalf("%v", err)
	}
	data, err := EncodeDeposit(p)
	if err != nil || len(data) < 4+32*10 {
		t.Fatalf("%d bytes, %v", len(data), err)
	}
}
