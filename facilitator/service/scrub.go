package service

import (
	"context"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/redact"
)

// ScrubbedBackend is the chain backend of c, dialed to rpcURL, whose
// errors never quote rpcURL: go-ethereum's transport errors do (Post
// "https://host/v2/KEY": ...), and providers put API keys in it. The
// errors keep their chain, for errors.Is and errors.As.
func ScrubbedBackend(c *ethclient.Client, rpcURL string) evm.ChainBackend {
	return scrubbedBackend{c: c, url: rpcURL}
}

// ScrubbedBatchCaller sends the JSON-RPC batch requests of c, dialed to
// rpcURL, with errors (of the request and of each call) that never quote
// rpcURL.
func ScrubbedBatchCaller(c *rpc.Client, rpcURL string) evm.BatchCaller {
	return scrubbedBatchCaller{c: c, url: rpcURL}
}

type scrubbedBackend struct {
	c   *ethclient.Client
	url string
}

func scrub(err error, url string) error { return redact.Scrub(err, url) }

// BalanceAt reads an account's native balance (the readiness gas check).
func (b scrubbedBackend) BalanceAt(ctx context.Context, account common.Address, block *big.Int) (*big.Int, error) {
	v, err := b.c.BalanceAt(ctx, account, block)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) ChainID(ctx context.Context) (*big.Int, error) {
	v, err := b.c.ChainID(ctx)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	v, err := b.c.SuggestGasTipCap(ctx)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	v, err := b.c.EstimateGas(ctx, msg)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	return scrub(b.c.SendTransaction(ctx, tx), b.url)
}

func (b scrubbedBackend) PendingNonceAt(ctx context.Context, account common.Address) (uint64, error) {
	v, err := b.c.PendingNonceAt(ctx, account)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error) {
	v, err := b.c.HeaderByNumber(ctx, number)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) TransactionReceipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	v, err := b.c.TransactionReceipt(ctx, hash)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) CallContract(ctx context.Context, msg ethereum.CallMsg, block *big.Int) ([]byte, error) {
	v, err := b.c.CallContract(ctx, msg, block)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error) {
	v, err := b.c.FilterLogs(ctx, q)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) SubscribeFilterLogs(ctx context.Context, q ethereum.FilterQuery, ch chan<- types.Log) (ethereum.Subscription, error) {
	v, err := b.c.SubscribeFilterLogs(ctx, q, ch)
	return v, scrub(err, b.url)
}

func (b scrubbedBackend) TransactionByHash(ctx context.Context, hash common.Hash) (*types.Transaction, bool, error) {
	tx, pending, err := b.c.TransactionByHash(ctx, hash)
	return tx, pending, scrub(err, b.url)
}

type scrubbedBatchCaller struct {
	c   *rpc.Client
	url string
}

func (b scrubbedBatchCaller) BatchCallContext(ctx context.Context, elems []rpc.BatchElem) error {
	err := b.c.BatchCallContext(ctx, elems)
	for i := range elems {
		elems[i].Error = scrub(elems[i].Error, b.url)
	}
	return scrub(err, b.url)
}
