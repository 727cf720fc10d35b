package evm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/go402/go402/x402"
)

// BatchCaller sends JSON-RPC batch requests; *rpc.Client implements it.
type BatchCaller interface {
	BatchCallContext(ctx context.Context, b []rpc.BatchElem) error
}

// Defaults for the coalescing of chain reads (see
// [ExactFacilitatorConfig.ReadBatchSize]).
const (
	DefaultReadBatchSize = 96
	// readBatchesInFlight bounds the batch requests outstanding at once, so
	// that a node with several cores serves several while the next fills.
	readBatchesInFlight = 4
	// readBatchTimeout bounds one batch request, which serves many callers
	// and so does not run under any one caller's context.
	readBatchTimeout = 30 * time.Second
)

// rpcClientOf returns the JSON-RPC client behind an ethclient-style
// backend (*ethclient.Client has Client() *rpc.Client), if it has one.
func rpcClientOf(b ChainBackend) BatchCaller {
	if c, ok := b.(interface{ Client() *rpc.Client }); ok && c.Client() != nil {
		return c.Client()
	}
	return nil
}

// ethCall is one eth_call at the latest block.
type ethCall struct {
	msg ethereum.CallMsg
	// transfer marks a simulated transfer from payer to payee: a call
	// that changes state, which the Multicall3 plan keeps apart from the
	// calls that state would affect (see planAggregates). Any other call
	// is a read.
	transfer     bool
	payer, payee common.Address
	out          hexutil.Bytes
	err          error
}

// chainReader makes eth_calls. With a BatchCaller it coalesces the calls of
// concurrent callers into JSON-RPC batch requests: a caller's calls go out at
// once when fewer than readBatchesInFlight batches are outstanding, and
// otherwise join the next batch. So a lone verify costs one round trip for
// all its reads, and a busy facilitator sends few large requests instead of
// many small ones. With a Multicall3 address too, the calls of a batch
// request are folded into aggregate3 eth_calls (see reads_multicall.go), so
// that the node runs one call per token and batch instead of one per read.
// Without a BatchCaller, calls go one by one through the backend.
type chainReader struct {
	backend   ChainBackend
	rpc       BatchCaller
	max       int
	multicall common.Address // zero: no aggregation

	mu       sync.Mutex
	queue    []*readRequest
	inFlight int
}

type readRequest struct {
	calls []*ethCall
	done  chan error
}

func newChainReader(backend ChainBackend, rpc BatchCaller, max int, multicall common.Address) *chainReader {
	if max <= 0 {
		max = DefaultReadBatchSize
	}
	return &chainReader{backend: backend, rpc: rpc, max: max, multicall: multicall}
}

// call makes every call, setting each one's out or err. The returned error
// is a failure of the request as a whole (transport, context); a call's own
// failure, such as a revert, is in its err.
func (r *chainReader) call(ctx context.Context, calls ...*ethCall) error {
	if r.rpc == nil {
		for _, c := range calls {
			c.out, c.err = r.backend.CallContract(ctx, c.msg, nil)
			if c.err != nil && revertFromError(c.err) == nil {
				return c.err
			}
		}
		return nil
	}
	req := &readRequest{calls: calls, done: make(chan error, 1)}
	r.mu.Lock()
	r.queue = append(r.queue, req)
	if r.inFlight < readBatchesInFlight {
		r.inFlight++
		go r.send()
	}
	r.mu.Unlock()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send sends batches until the queue is empty.
func (r *chainReader) send() {
	for {
		r.mu.Lock()
		n, take := 0, 0
		for take < len(r.queue) && (take == 0 || n+len(r.queue[take].calls) <= r.max) {
			n += len(r.queue[take].calls)
			take++
		}
		if take == 0 {
			r.inFlight--
			r.mu.Unlock()
			return
		}
		reqs := make([]*readRequest, take)
		copy(reqs, r.queue)
		r.queue = r.queue[take:]
		r.mu.Unlock()

		err := r.sendBatch(reqs, n)
		for _, req := range reqs {
			req.done <- err
		}
	}
}

// sendBatch makes the n calls of reqs in one JSON-RPC batch request,
// through aggregate3 when the reader has a Multicall3 address.
func (r *chainReader) sendBatch(reqs []*readRequest, n int) error {
	calls := make([]*ethCall, 0, n)
	for _, req := range reqs {
		calls = append(calls, req.calls...)
	}
	var aggs []*aggregate
	direct := calls
	if r.multicall != (common.Address{}) {
		aggs, direct = planAggregates(calls, r.max)
	}
	elems := make([]rpc.BatchElem, 0, len(aggs)+len(direct))
	for _, a := range aggs {
		msg := ethereum.CallMsg{To: &r.multicall, Data: a.calldata()}
		elems = append(elems, rpc.BatchElem{Method: "eth_call", Args: []any{callArg(msg), "latest"}, Result: &a.out})
	}
	for _, c := range direct {
		elems = append(elems, rpc.BatchElem{Method: "eth_call", Args: []any{callArg(c.msg), "latest"}, Result: &c.out})
	}
	ctx, cancel := context.WithTimeout(context.Background(), readBatchTimeout)
	defer cancel()
	if err := r.rpc.BatchCallContext(ctx, elems); err != nil {
		return err
	}
	for i, c := range direct {
		c.err = elems[len(aggs)+i].Error
	}
	var retry []*ethCall
	for i, a := range aggs {
		if elems[i].Error != nil || a.settle() != nil {
			// The aggregate as a whole failed, which it should not (each
			// call may fail on its own): its calls are made one by one.
			retry = append(retry, a.calls()...)
		}
	}
	if len(retry) == 0 {
		return nil
	}
	elems = elems[:0]
	for _, c := range retry {
		elems = append(elems, rpc.BatchElem{Method: "eth_call", Args: []any{callArg(c.msg), "latest"}, Result: &c.out})
	}
	if err := r.rpc.BatchCallContext(ctx, elems); err != nil {
		return err
	}
	for i, c := range retry {
		c.err = elems[i].Error
	}
	return nil
}

// callArg is the eth_call transaction object of msg.
func callArg(msg ethereum.CallMsg) map[string]any {
	arg := map[string]any{"to": msg.To, "data": hexutil.Bytes(msg.Data)}
	if msg.From != (common.Address{}) {
		arg["from"] = msg.From
	}
	return arg
}

// word reads a call's 32-byte answer. A revert or a malformed answer (no
// code at the address answers with no data) means the asset is not an
// EIP-3009 token; any other failure is an error.
func word(c *ethCall, asset common.Address, what string) ([]byte, *payloadError, error) {
	if c.err != nil {
		if rev := revertFromError(c.err); rev != nil {
			return nil, reject(x402.ReasonExactEVMEIP3009NotSupported, "%s reverted on asset %s: %s", what, asset.Hex(), rev.Error()), nil
		}
		return nil, nil, fmt.Errorf("evm: %s: %w", what, c.err)
	}
	if len(c.out) != 32 {
		return nil, reject(x402.ReasonExactEVMEIP3009NotSupported, "asset %s answered %s with %d bytes; is it an EIP-3009 token?", asset.Hex(), what, len(c.out)), nil
	}
	return c.out, nil, nil
}
