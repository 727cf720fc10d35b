package channelserver

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/evm/batchsettlement"
	"github.com/go402/go402/x402"
)

// ContractCaller runs read-only contract calls (an *ethclient.Client).
type ContractCaller interface {
	CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error)
}

// ChainState is a [ChainReader] that reads x402BatchSettlement on one
// chain: channels(id) for the balance and claimed total,
// pendingWithdrawals(id) for a withdrawal request, refundNonce(id).
type ChainState struct {
	Caller ContractCaller
	// Network is the chain the caller reaches; other networks are refused.
	Network x402.Network
	// Now is the clock of SyncedAt; nil means time.Now.
	Now func() time.Time
}

// ChannelState implements [ChainReader].
func (c *ChainState) ChannelState(ctx context.Context, network x402.Network, id common.Hash) (channels.Onchain, error) {
	if network.Canonical() != c.Network.Canonical() {
		return channels.Onchain{}, fmt.Errorf("evm/batchsettlement/channelserver: chain reader for %s asked about %s", c.Network, network)
	}
	parsed, err := abi.JSON(strings.NewReader(batchsettlement.SettlementABI))
	if err != nil {
		return channels.Onchain{}, err
	}
	call := func(method string) ([]any, error) {
		data, err := parsed.Pack(method, id)
		if err != nil {
			return nil, err
		}
		to := batchsettlement.SettlementContract()
		out, err := c.Caller.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
		if err != nil {
			return nil, fmt.Errorf("evm/batchsettlement/channelserver: %s: %w", method, err)
		}
		return parsed.Unpack(method, out)
	}
	var o channels.Onchain
	ch, err := call("channels")
	if err != nil {
		return o, err
	}
	wd, err := call("pendingWithdrawals")
	if err != nil {
		return o, err
	}
	rn, err := call("refundNonce")
	if err != nil {
		return o, err
	}
	if len(ch) != 2 || len(wd) != 2 || len(rn) != 1 {
		return o, fmt.Errorf("evm/batchsettlement/channelserver: unexpected contract answers")
	}
	for _, f := range []struct {
		dst *x402.Amount
		v   any
	}{{&o.Balance, ch[0]}, {&o.TotalClaimed, ch[1]}} {
		b, ok := f.v.(*big.Int)
		if !ok {
			return o, fmt.Errorf("evm/batchsettlement/channelserver: unexpected channels() types")
		}
		if *f.dst, err = x402.AmountFromBig(b); err != nil {
			return o, err
		}
	}
	at, ok := wd[1].(*big.Int)
	nonce, ok2 := rn[0].(*big.Int)
	if !ok || !ok2 || !at.IsInt64() || !nonce.IsUint64() {
		return o, fmt.Errorf("evm/batchsettlement/channelserver: unexpected pendingWithdrawals()/refundNonce() values")
	}
	o.WithdrawRequestedAt, o.RefundNonce = at.Int64(), nonce.Uint64()
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	o.SyncedAt = now()
	return o, nil
}
