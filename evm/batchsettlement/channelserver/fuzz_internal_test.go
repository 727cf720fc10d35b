package channelserver

import (
	"testing"
	"time"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/x402"
)

// FuzzSnapshot: a facilitator's extra, whatever it holds, is read without
// panicking, and what is read is applied as given.
func FuzzSnapshot(f *testing.F) {
	for _, s := range []string{
		`{"channelId":"0x` + "00000000000000000000000000000000000000000000000000000000000000aa" + `","balance":"10","totalClaimed":"2","withdrawRequestedAt":0,"refundNonce":"1"}`,
		`{"channelState":{"balance":"5","withdrawRequestedAt":"1700000000"}}`,
		`{"channelState":null}`, `{}`, `null`, `[]`, `{"balance":-1}`, `{"channelState":{"balance":"1e3"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, ok := snapshot(x402.Object(b))
		if !ok {
			return
		}
		var o channels.Onchain
		applySnapshot(&o, st, time.Unix(1, 0))
		if st.HasBalance && o.Balance != st.Balance {
			t.Fatalf("balance %s applied as %s", st.Balance, o.Balance)
		}
		if o.WithdrawRequestedAt < 0 {
			t.Fatalf("negative withdrawRequestedAt from %s", b)
		}
	})
}
