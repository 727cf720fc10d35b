package channelserver_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm/batchsettlement/channelserver"
)

// ChainState reads x402BatchSettlement at its canonical address on the
// devnet: a channel nobody opened has no balance, no claims and no
// withdrawal request; another network is refused.
func TestChainStateOnDevnet(t *testing.T) {
	net, err := devnet.Start(t.Context(), devnet.Config{RPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	cs := &channelserver.ChainState{Caller: net.Client(), Network: "eip155:31337"}
	o, err := cs.ChannelState(t.Context(), "eip155:31337", common.HexToHash("0x1234"))
	if err != nil {
		t.Fatal(err)
	}
	if !o.Balance.IsZero() || !o.TotalClaimed.IsZero() || o.WithdrawRequestedAt != 0 || o.RefundNonce != 0 || o.SyncedAt.IsZero() {
		t.Fatalf("state of an unopened channel: %+v", o)
	}
	if _, err := cs.ChannelState(t.Context(), "eip155:8453", common.Hash{}); err == nil {
		t.Fatal("a reader for the devnet answered for Base")
	}
}
