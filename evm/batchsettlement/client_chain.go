package batchsettlement

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/go402/go402/x402"
)

// ErrNoRPC is returned when no JSON-RPC endpoint is configured for a network:
// the channel cannot be read from the chain.
var ErrNoRPC = errors.New("evm/batchsettlement: no JSON-RPC endpoint configured for the network")

// ChannelReader reads a channel's on-chain state: channels(channelId) on
// x402BatchSettlement.
type ChannelReader interface {
	ReadChannel(ctx context.Context, network x402.Network, channelID common.Hash) (balance, totalClaimed x402.Amount, err error)
}

// RPCChannelReader reads channels through JSON-RPC endpoints by network
// ("eip155:8453"), dialled on first use; each endpoint's chain id is checked
// once, so that a URL of another chain cannot report a channel. It is safe
// for concurrent use.
type RPCChannelReader struct {
	urls map[x402.Network]string

	mu   sync.Mutex
	dial map[x402.Network]*ethclient.Client
}

// NewRPCChannelReader returns a reader of the endpoints urls.
func NewRPCChannelReader(urls map[x402.Network]string) *RPCChannelReader {
	m := make(map[x402.Network]string, len(urls))
	for n, u := range urls {
		m[n.Canonical()] = u
	}
	return &RPCChannelReader{urls: m, dial: map[x402.Network]*ethclient.Client{}}
}

// Has reports whether an endpoint is configured for network.
func (r *RPCChannelReader) Has(network x402.Network) bool {
	return r != nil && r.urls[network.Canonical()] != ""
}

func (r *RPCChannelReader) client(ctx context.Context, network x402.Network) (*ethclient.Client, error) {
	network = network.Canonical()
	url := r.urls[network]
	if url == "" {
		return nil, fmt.Errorf("%w: %s", ErrNoRPC, network)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ec := r.dial[network]; ec != nil {
		return ec, nil
	}
	want, err := network.ChainID()
	if err != nil {
		return nil, err
	}
	ec, err := ethclient.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("evm/batchsettlement: connecting to the RPC endpoint of %s: %w", network, scrubURL(err, url))
	}
	got, err := ec.ChainID(ctx)
	if err != nil {
		ec.Close()
		return nil, fmt.Errorf("evm/batchsettlement: reading the chain id of the RPC endpoint of %s: %w", network, scrubURL(err, url))
	}
	if !got.IsUint64() || got.Uint64() != want {
		ec.Close()
		return nil, fmt.Errorf("evm/batchsettlement: the RPC endpoint configured for %s is on chain %s", network, got)
	}
	r.dial[network] = ec
	return ec, nil
}

// ReadChannel calls channels(channelID) at the latest block.
func (r *RPCChannelReader) ReadChannel(ctx context.Context, network x402.Network, channelID common.Hash) (balance, totalClaimed x402.Amount, err error) {
	if r == nil {
		return balance, totalClaimed, fmt.Errorf("%w: %s", ErrNoRPC, network)
	}
	ec, err := r.client(ctx, network)
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

// scrubURL keeps an endpoint URL, which may hold an API key, out of an error.
func scrubURL(err error, url string) error {
	if url == "" || !strings.Contains(err.Error(), url) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), url, "<rpc url>"))
}

// authorizationStateSelector is the selector of EIP-3009's
// authorizationState(address authorizer, bytes32 nonce).
var authorizationStateSelector = crypto.Keccak256([]byte("authorizationState(address,bytes32)"))[:4]

// AuthorizationState reads whether the EIP-3009 authorization (authorizer,
// nonce) of token is used, and whether it can no longer be: the latest
// block's timestamp is at or past validBefore. Both reads are at one block.
func (r *RPCChannelReader) AuthorizationState(ctx context.Context, network x402.Network, token, authorizer common.Address, nonce common.Hash, validBefore time.Time) (used, expired bool, err error) {
	if r == nil {
		return false, false, fmt.Errorf("%w: %s", ErrNoRPC, network)
	}
	ec, err := r.client(ctx, network)
	if err != nil {
		return false, false, err
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		return false, false, fmt.Errorf("evm/batchsettlement: reading the latest block of %s: %w", network, err)
	}
	data := make([]byte, 0, 68)
	data = append(data, authorizationStateSelector...)
	data = append(data, common.LeftPadBytes(authorizer.Bytes(), 32)...)
	data = append(data, nonce.Bytes()...)
	out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &token, Data: data}, head.Number)
	if err != nil {
		return false, false, fmt.Errorf("evm/batchsettlement: authorizationState on %s: %w", network, err)
	}
	if len(out) != 32 {
		return false, false, fmt.Errorf("evm/batchsettlement: token %s answered authorizationState with %d bytes", token.Hex(), len(out))
	}
	used = new(big.Int).SetBytes(out).Sign() != 0
	expired = validBefore.Unix() > 0 && head.Time >= uint64(validBefore.Unix())
	return used, expired, nil
}
