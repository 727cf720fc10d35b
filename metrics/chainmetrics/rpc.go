// Package chainmetrics exports the Prometheus metrics of a go402
// facilitator's chains: the JSON-RPC calls, errors and latency of its
// backends by network and method, and its settlement keys' gas balance and
// nonce lag. It is apart from package metrics so that middleware users do
// not depend on go-ethereum.
package chainmetrics

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/metrics"
	"github.com/go402/go402/x402"
)

// RPC counts and times the JSON-RPC calls of chain backends:
// go402_rpc_calls_total{network,method}, go402_rpc_errors_total{network,method}
// and go402_rpc_duration_seconds{network,method}. A receipt or transaction
// not found (yet) is not an error.
type RPC struct {
	calls, errs *prometheus.CounterVec
	dur         *prometheus.HistogramVec
}

// NewRPC registers the RPC metrics on reg.
func NewRPC(reg prometheus.Registerer) (*RPC, error) {
	l := []string{"network", "method"}
	m := &RPC{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "rpc", Name: "calls_total",
			Help: "Chain JSON-RPC calls, by network and method."}, l),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "rpc", Name: "errors_total",
			Help: "Chain JSON-RPC calls that failed, by network and method."}, l),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: metrics.Namespace, Subsystem: "rpc", Name: "duration_seconds",
			Help: "Chain JSON-RPC call latency, by network and method.", Buckets: metrics.LatencyBuckets()}, l),
	}
	if err := register(reg, m.calls, m.errs, m.dur); err != nil {
		return nil, fmt.Errorf("metrics/chainmetrics: %w", err)
	}
	return m, nil
}

// Backend returns b counting its calls as network's.
func (m *RPC) Backend(network x402.Network, b evm.ChainBackend) evm.ChainBackend {
	return &rpcBackend{ChainBackend: b, m: m, network: string(network)}
}

type rpcBackend struct {
	evm.ChainBackend
	m       *RPC
	network string
}

// observe records one call to method that started at start.
func (b *rpcBackend) observe(method string, start time.Time, err error) {
	b.m.calls.WithLabelValues(b.network, method).Inc()
	b.m.dur.WithLabelValues(b.network, method).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, ethereum.NotFound) {
		b.m.errs.WithLabelValues(b.network, method).Inc()
	}
}

// call times f as one call to method.
func call[T any](b *rpcBackend, method string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	b.observe(method, start, err)
	return v, err
}

func (b *rpcBackend) ChainID(ctx context.Context) (*big.Int, error) {
	return call(b, "eth_chainId", func() (*big.Int, error) { return b.ChainBackend.ChainID(ctx) })
}

func (b *rpcBackend) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	return call(b, "eth_maxPriorityFeePerGas", func() (*big.Int, error) { return b.ChainBackend.SuggestGasTipCap(ctx) })
}

func (b *rpcBackend) EstimateGas(ctx context.Context, msg ethereum.CallMsg) (uint64, error) {
	return call(b, "eth_estimateGas", func() (uint64, error) { return b.ChainBackend.EstimateGas(ctx, msg) })
}

func (b *rpcBackend) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	_, err := call(b, "eth_sendRawTransaction", func() (struct{}, error) { return struct{}{}, b.ChainBackend.SendTransaction(ctx, tx) })
	return err
}

func (b *rpcBackend) PendingNonceAt(ctx context.Context, a common.Address) (uint64, error) {
	return call(b, "eth_getTransactionCount", func() (uint64, error) { return b.ChainBackend.PendingNonceAt(ctx, a) })
}

func (b *rpcBackend) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	return call(b, "eth_getBlockByNumber", func() (*types.Header, error) { return b.ChainBackend.HeaderByNumber(ctx, n) })
}

func (b *rpcBackend) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	return call(b, "eth_getTransactionReceipt", func() (*types.Receipt, error) { return b.ChainBackend.TransactionReceipt(ctx, h) })
}

func (b *rpcBackend) CallContract(ctx context.Context, msg ethereum.CallMsg, n *big.Int) ([]byte, error) {
	return call(b, "eth_call", func() ([]byte, error) { return b.ChainBackend.CallContract(ctx, msg, n) })
}

func (b *rpcBackend) FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error) {
	return call(b, "eth_getLogs", func() ([]types.Log, error) { return b.ChainBackend.FilterLogs(ctx, q) })
}

func (b *rpcBackend) TransactionByHash(ctx context.Context, h common.Hash) (*types.Transaction, bool, error) {
	var pending bool
	tx, err := call(b, "eth_getTransactionByHash", func() (*types.Transaction, error) {
		tx, p, err := b.ChainBackend.TransactionByHash(ctx, h)
		pending = p
		return tx, err
	})
	return tx, pending, err
}

// BalanceAt reads a balance through the wrapped backend, if it can.
func (b *rpcBackend) BalanceAt(ctx context.Context, a common.Address, n *big.Int) (*big.Int, error) {
	r, ok := b.ChainBackend.(balanceReader)
	if !ok {
		return nil, errors.New("metrics/chainmetrics: the backend cannot read balances")
	}
	return call(b, "eth_getBalance", func() (*big.Int, error) { return r.BalanceAt(ctx, a, n) })
}

// NonceAt reads a mined nonce through the wrapped backend, if it can.
func (b *rpcBackend) NonceAt(ctx context.Context, a common.Address, n *big.Int) (uint64, error) {
	r, ok := b.ChainBackend.(nonceReader)
	if !ok {
		return 0, errors.New("metrics/chainmetrics: the backend cannot read nonces")
	}
	return call(b, "eth_getTransactionCount", func() (uint64, error) { return r.NonceAt(ctx, a, n) })
}

// BatchCaller returns c counting each batch request as one call of method
// "batch" on network (its elements are not counted one by one).
func (m *RPC) BatchCaller(network x402.Network, c evm.BatchCaller) evm.BatchCaller {
	return &rpcBatch{next: c, b: &rpcBackend{m: m, network: string(network)}}
}

type rpcBatch struct {
	next evm.BatchCaller
	b    *rpcBackend
}

func (r *rpcBatch) BatchCallContext(ctx context.Context, elems []rpc.BatchElem) error {
	_, err := call(r.b, "batch", func() (struct{}, error) { return struct{}{}, r.next.BatchCallContext(ctx, elems) })
	return err
}

// register registers cs on reg, stopping at the first error.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
