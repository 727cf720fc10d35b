package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/go402/go402/x402"
)

// ErrNoRPC is returned by [ExactClient.AuthorizationState] when no JSON-RPC
// endpoint is configured for the network (ExactClientConfig.RPCURLs): the
// state of the authorization cannot be read.
var ErrNoRPC = errors.New("evm: no JSON-RPC endpoint configured for the network")

// Authorization returns the key of the EIP-3009 authorization in a payload
// that [ExactClient.CreatePayload] signed for req — (network, asset, payer,
// nonce), lower-case hex, as [ExactFacilitator.Identify] keys it — and its
// validBefore: from then on no block can use it. It holds nothing that could
// be used to pay.
func (c *ExactClient) Authorization(req x402.PaymentRequirements, payload x402.Object) (x402.SettlementKey, time.Time, error) {
	if _, ok := payload.Field("permit2Authorization"); ok {
		return permit2Authorization(req, payload)
	}
	p, err := decodeExactPayload(payload)
	if err != nil {
		return x402.SettlementKey{}, time.Time{}, err
	}
	auth, err := decodeAuthorization(p)
	if err != nil {
		return x402.SettlementKey{}, time.Time{}, err
	}
	asset, ok := hexAddress(req.Asset)
	if !ok {
		return x402.SettlementKey{}, time.Time{}, fmt.Errorf("evm: asset %q is not an address", req.Asset)
	}
	if !auth.ValidBefore.IsInt64() {
		return x402.SettlementKey{}, time.Time{}, errors.New("evm: authorization.validBefore is out of range")
	}
	return exactKey(req.Network.Canonical(), asset, auth), time.Unix(auth.ValidBefore.Int64(), 0), nil
}

// AuthorizationState reads from the chain of key.Network whether the
// EIP-3009 authorization of key is used (the token's authorizationState),
// and whether it can no longer be used: the block read is the latest, and
// its timestamp is at or past validBefore. A used authorization was either
// settled or cancelled by the payer; an unused one that is expired can
// never be settled. The two reads are made at the same block.
//
// It needs a JSON-RPC endpoint for the network (ExactClientConfig.RPCURLs);
// without one it returns an error wrapping [ErrNoRPC]. The endpoint's chain
// id is checked once, so that a URL of another chain cannot report a
// payment unused.
func (c *ExactClient) AuthorizationState(ctx context.Context, key x402.SettlementKey, validBefore time.Time) (used, expired bool, err error) {
	return c.chains.AuthorizationState(ctx, key, validBefore)
}

// ChainClients dials JSON-RPC endpoints by network on first use, checks
// each endpoint's chain id once (so that a URL of another chain cannot
// answer for a network), and keeps one client per network. Errors never
// carry the URL, which may hold an API key. It is safe for concurrent use;
// [ExactClient] and the batch-settlement payer read the chain through it.
type ChainClients struct {
	urls map[x402.Network]string

	mu   sync.Mutex
	dial map[x402.Network]*ethclient.Client
}

// NewChainClients returns the clients of the endpoints urls.
func NewChainClients(urls map[x402.Network]string) *ChainClients {
	m := make(map[x402.Network]string, len(urls))
	for n, u := range urls {
		m[n.Canonical()] = u
	}
	return &ChainClients{urls: m, dial: map[x402.Network]*ethclient.Client{}}
}

// Has reports whether an endpoint is configured for network.
func (cc *ChainClients) Has(network x402.Network) bool {
	return cc != nil && cc.urls[network.Canonical()] != ""
}

// Client returns the client of network, dialled and checked on first use;
// [ErrNoRPC] when no endpoint is configured for it.
func (cc *ChainClients) Client(ctx context.Context, network x402.Network) (*ethclient.Client, error) {
	if cc == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoRPC, network)
	}
	network = network.Canonical()
	url, ok := cc.urls[network]
	if !ok || url == "" {
		return nil, fmt.Errorf("%w: %s", ErrNoRPC, network)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if ec := cc.dial[network]; ec != nil {
		return ec, nil
	}
	want, err := network.ChainID()
	if err != nil {
		return nil, err
	}
	ec, err := ethclient.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("evm: connecting to the RPC endpoint of %s: %w", network, scrub(err, url))
	}
	got, err := ec.ChainID(ctx)
	if err != nil {
		ec.Close()
		return nil, fmt.Errorf("evm: reading the chain id of the RPC endpoint of %s: %w", network, scrub(err, url))
	}
	if !got.IsUint64() || got.Uint64() != want {
		ec.Close()
		return nil, fmt.Errorf("evm: the RPC endpoint configured for %s is on chain %s", network, got)
	}
	cc.dial[network] = ec
	return ec, nil
}

// scrub keeps an endpoint URL, which may hold an API key, out of an error.
func scrub(err error, url string) error {
	if url == "" || !strings.Contains(err.Error(), url) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), url, "<rpc url>"))
}

// AuthorizationState reads, at the latest block of key.Network, whether the
// EIP-3009 authorization of key (network, token, authorizer, nonce) is used,
// and whether its validBefore is at or before that block's timestamp: see
// [ExactClient.AuthorizationState], which is this read.
func (cc *ChainClients) AuthorizationState(ctx context.Context, key x402.SettlementKey, validBefore time.Time) (used, expired bool, err error) {
	ec, err := cc.Client(ctx, key.Network)
	if err != nil {
		return false, false, err
	}
	if !strings.HasPrefix(key.Nonce, "0x") {
		return permit2State(ctx, ec, key, validBefore) // a Permit2 nonce (decimal)
	}
	asset, ok := hexAddress(key.Asset)
	payer, ok2 := hexAddress(key.Payer)
	nonce, err := hexutil.Decode(key.Nonce)
	if !ok || !ok2 || err != nil || len(nonce) != 32 {
		return false, false, fmt.Errorf("evm: authorization key %+v is malformed", key)
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		return false, false, fmt.Errorf("evm: reading the latest block of %s: %w", key.Network, err)
	}
	out, err := ec.CallContract(ctx, ethereum.CallMsg{To: &asset, Data: packAuthorizationState(payer, [32]byte(nonce))}, head.Number)
	if err != nil {
		return false, false, fmt.Errorf("evm: authorizationState on %s: %w", key.Network, err)
	}
	if len(out) != 32 {
		return false, false, fmt.Errorf("evm: token %s answered authorizationState with %d bytes; is it an EIP-3009 token?", asset.Hex(), len(out))
	}
	used = new(big.Int).SetBytes(out).Sign() != 0
	expired = validBefore.Unix() > 0 && head.Time >= uint64(validBefore.Unix())
	return used, expired, nil
}
