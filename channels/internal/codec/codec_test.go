package codec

import (
	"testing"
	"time"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/x402"
)

// A channel survives the trip through its row.
func TestRoundTrip(t *testing.T) {
	ch := channels.Channel{ID: "0xab", Network: "eip155:8453", Config: []byte(`{}`), Charged: x402.NewAmount(3), SignedMax: x402.NewAmount(4),
		Signature: "0x01", LastRequestAt: time.UnixMilli(1700000000123).UTC(),
		Onchain: channels.Onchain{Balance: x402.NewAmount(9), TotalClaimed: x402.NewAmount(1), WithdrawRequestedAt: 5, RefundNonce: 2, SyncedAt: time.UnixMilli(1700000000000).UTC()}}
	r := FromChannel(&ch)
	got, err := r.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if got.Charged != ch.Charged || got.SignedMax != ch.SignedMax || got.Onchain != ch.Onchain || !got.LastRequestAt.Equal(ch.LastRequestAt) || got.ID != ch.ID {
		t.Fatalf("round trip: %+v, want %+v", got, ch)
	}
}

// FuzzRow: a row read from the database, whatever its amount columns
// hold, is refused or read back to the same canonical amounts.
func FuzzRow(f *testing.F) {
	f.Add("0", "10", "", "0x")
	f.Add("007", "1e3", "-1", "")
	f.Add("115792089237316195423570985008687907853269984665640564039457584007913129639936", "1", "2", "3")
	f.Fuzz(func(t *testing.T, charged, signed, balance, claimed string) {
		r := Row{ID: "0x1", Charged: charged, SignedMax: signed, Balance: balance, TotalClaimed: claimed}
		ch, err := r.Channel()
		if err != nil {
			return
		}
		back := FromChannel(&ch)
		again, err := back.Channel()
		if err != nil || again.Charged != ch.Charged || again.Onchain.Balance != ch.Onchain.Balance {
			t.Fatalf("re-read of %+v: %+v %v", back, again, err)
		}
	})
}
