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
	out hexutil.Bytes
	err error
}

// chainReader makes eth_calls. With a BatchCaller it coalesces the calls of
// concurrent callers into JSON-RPC batch requests: a caller's calls go out at
// once when fewer than readBatchesInFlight batches are outstanding, and
// otherwise join the next batch. So a lone verify costs one round trip for
// all its reads, and a busy facilitator sends few large requests instead of
// many small ones. Without a BatchCaller, calls go one by one through the
// backend.
type chainReader struct {
	backend ChainBackend
	rpc     BatchCaller
	max     int

	mu       sync.Mutex
	queue    []*readRequest
	inFlight int
}

type readRequest struct {
	calls []*ethCall
	done  chan error
}

func newChainReader(backend ChainBackend, rpc BatchCaller, max int) *chainReader {
	if max <= 0 {
		max = DefaultReadBatchSize
	}
	return &chainReader{backend: backend, rpc: rpc, max: max}
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

		elems := make([]rpc.BatchElem, 0, n)
		for _, req := range reqs {
			for _, c := range req.calls {
				elems = append(elems, rpc.BatchElem{Method: "eth_call", Args: []any{callArg(c.msg), "latest"}, Result: &c.out})
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), readBatchTimeout)
		err := r.rpc.BatchCallContext(ctx, elems)
		cancel()
		i := 0
		for _, req := range reqs {
			for _, c := range req.calls {
				c.err = elems[i].Error
				i++
			}
			req.done <- err
		}
	}
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
