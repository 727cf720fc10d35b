package batchsettlement

import (
	"context"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// ErrNoRPC is returned when no JSON-RPC endpoint is configured for a network:
// the channel cannot be read from the chain. It is [evm.ErrNoRPC].
var ErrNoRPC = evm.ErrNoRPC

// ChannelReader reads a channel's on-chain state: channels(channelId) on
// x402BatchSettlement.
type ChannelReader interface {
	ReadChannel(ctx context.Context, network x402.Network, channelID common.Hash) (balance, totalClaimed x402.Amount, err error)
}

// RPCChannelReader reads channels, and the EIP-3009 authorizations of
// deposits, through JSON-RPC endpoints by network ("eip155:8453") kept by an
// [evm.ChainClients]: dialled on first use, each endpoint's chain id checked
// once, so that a URL of another chain cannot report a channel. It is safe
// for concurrent use.
type RPCChannelReader struct {
	chains *evm.ChainClients
}

// NewRPCChannelReader returns a reader of the endpoints urls.
func NewRPCChannelReader(urls map[x402.Network]string) *RPCChannelReader {
	return &RPCChannelReader{chains: evm.NewChainClients(urls)}
}

// Has reports whether an endpoint is configured for network.
func (r *RPCChannelReader) Has(network x402.Network) bool {
	return r != nil && r.chains.Has(network)
}

// ReadChannel calls channels(channelID) at the latest block.
func (r *RPCChannelReader) ReadChannel(ctx context.Context, network x402.Network, channelID common.Hash) (balance, totalClaimed x402.Amount, err error) {
	if r == nil {
		return balance, totalClaimed, fmt.Errorf("%w: %s", ErrNoRPC, network)
	}
	ec, err := r.chains.Client(ctx, network)
	if err != nil {
		return balance, totalClaimed, err
	}
	data, err := EncodeChannels(channelID)
	if err != nil {
		return balance, totalClaimed, err
	}
	to := SettlementContract()
	out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return balance, totalClaimed, fmt.Errorf("evm/batchsettlement: channels() on %s: %w", network, err)
	}
	return DecodeChannels(out)
}

// AuthorizationState reads whether the EIP-3009 authorization of key (a
// deposit's: network, token, payer, nonce) is used, and whether it can no
// longer be: [evm.ChainClients.AuthorizationState].
func (r *RPCChannelReader) AuthorizationState(ctx context.Context, key x402.SettlementKey, validBefore time.Time) (used, expired bool, err error) {
	if r == nil {
		return false, false, fmt.Errorf("%w: %s", ErrNoRPC, key.Network)
	}
	return r.chains.AuthorizationState(ctx, key, validBefore)
}
