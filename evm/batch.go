package evm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go402/go402/x402"
)

// Defaults for [BatchConfig].
const (
	DefaultBatchMaxSize = 16
	// batchSendTimeout bounds the estimation, signing and submission of
	// one batch transaction (not its receipt wait).
	batchSendTimeout = 30 * time.Second
	// batchHookTimeout bounds each payment's before-broadcast hook (the
	// facilitator's ledger write).
	batchHookTimeout = 10 * time.Second
)

// BatchConfig turns on batched settlement for an [ExactFacilitator]: the
// authorizations waiting to be settled are sent together, in one
// transaction calling a Multicall3 contract's aggregate3, with each
// transfer allowed to fail on its own so that one bad authorization does
// not fail the others. The base cost of a transaction (21,000 gas) and the
// payee's balance update are then shared by the batch.
//
// A batch is whatever queued while the previous transaction was being sent,
// plus whatever arrives within Window of the first; a lone settlement is
// sent as a plain transferWithAuthorization. Every payment still gets its
// own outcome: its transaction hash is recorded before broadcast (through
// its [x402.SettleTrace]) and, once mined, the token's AuthorizationUsed
// event for its (payer, nonce) in the receipt decides whether it was paid.
// Batching therefore needs tokens that emit the EIP-3009 AuthorizationUsed
// event followed by Transfer, as USDC does, and applies only to the assets
// listed in ExactFacilitatorConfig.Assets; other assets settle one
// transaction per payment.
type BatchConfig struct {
	// Multicall is the address of the Multicall3 contract (aggregate3).
	// The zero address leaves batching off. Use [Multicall3Address] on
	// chains that have the canonical deployment, the devnet included.
	Multicall common.Address
	// MaxSize bounds the authorizations in one transaction. If zero,
	// DefaultBatchMaxSize. A batch whose gas estimate exceeds the Sender's
	// GasCap is split in two.
	MaxSize int
	// Window is how long a batch stays open for more settlements after the
	// first one arrives. Zero adds no wait.
	Window time.Duration
}

// enabled reports whether batching is on.
func (c BatchConfig) enabled() bool { return c.Multicall != (common.Address{}) }

// aggregate3 is the one Multicall3 function used.
var aggregate3 = func() abi.Method {
	a, err := abi.JSON(strings.NewReader(`[{"type":"function","name":"aggregate3","stateMutability":"payable",
		"inputs":[{"name":"calls","type":"tuple[]","components":[{"name":"target","type":"address"},{"name":"allowFailure","type":"bool"},{"name":"callData","type":"bytes"}]}],
		"outputs":[{"name":"returnData","type":"tuple[]","components":[{"name":"success","type":"bool"},{"name":"returnData","type":"bytes"}]}]}]`))
	if err != nil {
		panic(err) // a constant
	}
	return a.Methods["aggregate3"]
}()

// call3 is Multicall3's Call3 struct.
type call3 struct {
	Target       common.Address
	AllowFailure bool
	CallData     []byte
}

// packAggregate3 encodes aggregate3(calls) with every call's allowFailure.
func packAggregate3(items []*batchItem, allowFailure bool) ([]byte, error) {
	calls := make([]call3, len(items))
	for i, it := range items {
		calls[i] = call3{Target: it.c.asset, AllowFailure: allowFailure, CallData: it.c.transferCalldata()}
	}
	args, err := aggregate3.Inputs.Pack(calls)
	if err != nil {
		return nil, err
	}
	return append(aggregate3.ID[:4:4], args...), nil
}

// batchItem is one settlement waiting in, or sent by, a batch.
type batchItem struct {
	ctx  context.Context // the Settle call's, for its hook (detached)
	c    *checked
	resp *x402.SettleResponse // network and payer filled in
	hook func(ctx context.Context, tx string) error

	state batchState // guarded by batcher.mu
	sent  chan struct{}
	tx    *types.Transaction // set before sent is closed, if broadcast
	done  chan struct{}
	out   *x402.SettleResponse // set before done is closed
	err   error
}

type batchState int

const (
	itemQueued    batchState = iota
	itemTaken                // in a batch being sent; its caller must wait
	itemAbandoned            // its caller left before it was taken
)

// finish gives the item its outcome. Only the sending side calls it, once.
func (it *batchItem) finish(out *x402.SettleResponse, err error) {
	it.out, it.err = out, err
	select {
	case <-it.sent:
	default:
		close(it.sent)
	}
	close(it.done)
}

// batcher sends settlements: each alone (settleNow), or, with batching on,
// queued and sent in batches, one send at a time (settle). Receipts are
// awaited concurrently, so sends pipeline. Both ways share the sending and
// the reading of outcomes.
type batcher struct {
	f   *ExactFacilitator
	cfg BatchConfig

	mu      sync.Mutex
	queue   []*batchItem
	running bool
}

func newBatcher(f *ExactFacilitator, cfg BatchConfig) *batcher {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultBatchMaxSize
	}
	return &batcher{f: f, cfg: cfg}
}

// newSettlement is one checked payment about to be sent; hook records the
// transaction hash before broadcast (nil if the caller keeps no ledger).
func newSettlement(ctx context.Context, c *checked, resp *x402.SettleResponse, hook func(context.Context, string) error) *batchItem {
	return &batchItem{ctx: ctx, c: c, resp: resp, hook: hook, sent: make(chan struct{}), done: make(chan struct{})}
}

// settleNow sends one payment in a transaction of its own, under the
// caller's context, and waits for its outcome.
func (b *batcher) settleNow(ctx context.Context, it *batchItem) (*x402.SettleResponse, error) {
	it.state = itemTaken
	b.send(ctx, []*batchItem{it})
	return it.wait(ctx, b.f.log)
}

// settle queues a payment for the next batch and waits for its outcome.
func (b *batcher) settle(ctx context.Context, it *batchItem) (*x402.SettleResponse, error) {
	b.mu.Lock()
	b.queue = append(b.queue, it)
	if !b.running {
		b.running = true
		go b.run()
	}
	b.mu.Unlock()

	select {
	case <-it.done:
		return it.out, it.err
	case <-ctx.Done():
	}
	b.mu.Lock()
	if it.state == itemQueued {
		it.state = itemAbandoned
		b.mu.Unlock()
		return nil, fmt.Errorf("evm: settlement not sent: %w", ctx.Err())
	}
	b.mu.Unlock()
	return it.wait(ctx, b.f.log)
}

// wait returns the outcome of a payment that is being or has been sent. A
// caller whose context ends first gets settlement_pending with the hash if
// the transaction went out: it may still be mined, so it is never reported
// as a failure. The wait for the send itself is bounded by batchSendTimeout.
func (it *batchItem) wait(ctx context.Context, log *slog.Logger) (*x402.SettleResponse, error) {
	select {
	case <-it.done:
		return it.out, it.err
	case <-ctx.Done():
	}
	<-it.sent
	select {
	case <-it.done:
		return it.out, it.err
	default:
	}
	if it.tx != nil {
		log.Warn("settlement pending: caller stopped waiting", "tx", it.tx.Hash(), "payer", it.resp.Payer)
		return pending(cloneSettle(it.resp), it.tx.Hash()), nil
	}
	<-it.done
	return it.out, it.err
}

// run sends batches until the queue is empty.
func (b *batcher) run() {
	for {
		if b.cfg.Window > 0 {
			b.mu.Lock()
			n := len(b.queue)
			b.mu.Unlock()
			if n < b.cfg.MaxSize {
				time.Sleep(b.cfg.Window)
			}
		}
		b.mu.Lock()
		var items []*batchItem
		rest := b.queue[:0]
		for _, it := range b.queue {
			switch {
			case it.state == itemAbandoned:
			case len(items) < b.cfg.MaxSize:
				it.state = itemTaken
				items = append(items, it)
			default:
				rest = append(rest, it)
			}
		}
		clear(b.queue[len(rest):])
		b.queue = rest
		if len(items) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.sendBatch(items)
	}
}

// sendBatch sends one batch taken from the queue, within batchSendTimeout
// in all (splits and fallbacks included).
func (b *batcher) sendBatch(items []*batchItem) {
	ctx, cancel := context.WithTimeout(context.Background(), batchSendTimeout)
	defer cancel()
	b.send(ctx, items)
}

// send broadcasts items (a batch, or a lone settlement) and starts waiting
// for the receipt. Items rejected on the way get their outcome here.
func (b *batcher) send(ctx context.Context, items []*batchItem) {
	for len(items) > 0 {
		var tx *types.Transaction
		var err error
		if len(items) == 1 {
			tx, err = b.sendOne(ctx, items[0])
		} else {
			tx, err = b.sendMany(ctx, items)
		}
		var rev *RevertError
		var hookErr *hookError
		switch {
		case errors.As(err, &hookErr):
			// One payment could not record the transaction (its ledger
			// write failed, or its claim is gone): it alone is not sent,
			// with its own error. The others go out in a new transaction,
			// whose hash they record again.
			hookErr.item.finish(nil, fmt.Errorf("evm: settlement not sent: %w", hookErr.err))
			items = slices.DeleteFunc(items, func(it *batchItem) bool { return it == hookErr.item })
			continue
		case err == nil:
			b.sent(items, tx)
			go b.await(items, tx)
			return
		case len(items) > 1 && errors.Is(err, ErrGasCapExceeded):
			// Too much gas for one transaction: send it in two.
			half := len(items) / 2
			b.send(ctx, items[:half])
			items = items[half:]
			continue
		case len(items) > 1 && errors.As(err, &rev):
			// Some transfer would revert: settle the ones that would not,
			// and give the others their reason.
			items = b.dropFailing(ctx, items)
			continue
		case len(items) == 1 && errors.As(err, &rev):
			it := items[0]
			out := cloneSettle(it.resp)
			out.ErrorReason, out.ErrorMessage = reasonForRevert(rev), "the token rejected the transfer: "+rev.Error()
			it.finish(out, nil)
		case tx != nil && errors.Is(err, ErrSendUnknown):
			b.f.log.Warn("settlement broadcast outcome unknown", "tx", tx.Hash(), "payments", len(items), "err", err)
			b.sent(items, tx)
			for _, it := range items {
				it.finish(pending(cloneSettle(it.resp), tx.Hash()), nil)
			}
		default:
			for _, it := range items {
				it.finish(nil, fmt.Errorf("evm: settlement not sent: %w", err))
			}
		}
		return
	}
}

// sent records the broadcast transaction on every item.
func (b *batcher) sent(items []*batchItem, tx *types.Transaction) {
	for _, it := range items {
		it.tx = tx
		close(it.sent)
	}
}

// hookError is one payment's before-broadcast hook failing: that payment
// is not sent, the others of its batch are sent without it.
type hookError struct {
	item *batchItem
	err  error
}

func (e *hookError) Error() string { return e.err.Error() }
func (e *hookError) Unwrap() error { return e.err }

// hooks returns the before-broadcast hook of a transaction carrying items:
// every payment records the transaction hash first.
func hooks(items []*batchItem) BeforeBroadcast {
	return func(_ context.Context, tx *types.Transaction) error {
		for _, it := range items {
			if it.hook == nil {
				continue
			}
			hctx, cancel := context.WithTimeout(context.WithoutCancel(it.ctx), batchHookTimeout)
			err := it.hook(hctx, tx.Hash().Hex())
			cancel()
			if err != nil {
				return &hookError{item: it, err: err}
			}
		}
		return nil
	}
}

func (b *batcher) sendOne(ctx context.Context, it *batchItem) (*types.Transaction, error) {
	to, data, err := it.c.settleCall(b.f.walletMulticall)
	if err != nil {
		return nil, err
	}
	return b.f.cfg.Sender.SendWithHook(ctx, to, data, hooks([]*batchItem{it}))
}

// sendMany sends items through aggregate3. Gas is estimated with every
// transfer required to succeed (so that an estimate never leaves a transfer
// short of gas) and the transaction lets each fail on its own (so that one
// authorization used in the meantime does not undo the others).
func (b *batcher) sendMany(ctx context.Context, items []*batchItem) (*types.Transaction, error) {
	strict, err := packAggregate3(items, false)
	if err != nil {
		return nil, err
	}
	lenient, err := packAggregate3(items, true)
	if err != nil {
		return nil, err
	}
	return b.f.cfg.Sender.send(ctx, b.cfg.Multicall, nil, lenient, hooks(items), strict)
}

// dropFailing simulates each transfer on its own, finishes the ones that
// revert with their reason and returns the rest. If every transfer passes
// alone (they fail only together, such as two payments overdrawing one
// payer), it sends them one by one instead.
func (b *batcher) dropFailing(ctx context.Context, items []*batchItem) []*batchItem {
	var keep []*batchItem
	for _, it := range items {
		msg := ethereum.CallMsg{From: b.f.cfg.Sender.Address(), To: &it.c.asset, Data: it.c.transferCalldata()}
		_, err := b.f.cfg.Backend.CallContract(ctx, msg, nil)
		if rev := revertFromError(err); rev != nil {
			out := cloneSettle(it.resp)
			out.ErrorReason, out.ErrorMessage = reasonForRevert(rev), "the token rejected the transfer: "+rev.Error()
			it.finish(out, nil)
			continue
		}
		if err != nil {
			it.finish(nil, fmt.Errorf("evm: simulating transfer: %w", err))
			continue
		}
		keep = append(keep, it)
	}
	if len(keep) == len(items) {
		// No single culprit: settle them one at a time.
		for _, it := range keep[1:] {
			b.send(ctx, []*batchItem{it})
		}
		return keep[:1]
	}
	return keep
}

// await waits for a batch's receipt and gives every item its outcome.
func (b *batcher) await(items []*batchItem, tx *types.Transaction) {
	f := b.f
	ctx := context.Background()
	f.log.Info("settlement sent", "tx", tx.Hash(), "payments", len(items))
	receipt, err := f.cfg.Sender.WaitReceipt(ctx, tx.Hash())
	mined := receipt != nil && (err == nil || errors.Is(err, ErrTxReverted))
	for _, it := range items {
		out := cloneSettle(it.resp)
		switch {
		case !mined:
			// Broadcast, outcome not known yet: never a failure.
			f.log.Warn("settlement pending", "tx", tx.Hash(), "payer", out.Payer, "err", err)
			it.finish(pending(out, tx.Hash()), nil)
		case receipt.Status != types.ReceiptStatusSuccessful:
			f.log.Warn("settlement reverted", "tx", tx.Hash(), "payer", out.Payer)
			out.Transaction = tx.Hash().Hex()
			out.ErrorReason = x402.ReasonExactEVMTransactionFailed
			out.ErrorMessage = "the settlement transaction was mined but reverted"
			it.finish(out, nil)
		case len(items) == 1 || it.c.transfer().paidIn(receipt):
			// A lone transfer's own transaction succeeded (for a token that
			// emits no events too); in a batch, the token's events show it.
			out.Success, out.Transaction = true, tx.Hash().Hex()
			it.finish(out, nil)
		default:
			// The batch succeeded but this transfer failed inside it.
			out.Transaction = tx.Hash().Hex()
			out.ErrorReason, out.ErrorMessage = b.failureReason(it)
			f.log.Warn("settlement failed in its transaction", "tx", tx.Hash(), "payer", out.Payer, "reason", out.ErrorReason)
			it.finish(out, nil)
		}
	}
}

// failureReason explains why a mined transaction did not use an item's
// authorization, from the chain's current state.
func (b *batcher) failureReason(it *batchItem) (x402.Reason, string) {
	ctx, cancel := context.WithTimeout(context.Background(), batchSendTimeout)
	defer cancel()
	rej, err := b.f.checkChain(ctx, it.c, true)
	if err == nil && rej != nil {
		return rej.reason, "the transfer failed in its transaction: " + rej.msg
	}
	return x402.ReasonExactEVMTransactionFailed, "the settlement transaction was mined but this transfer failed"
}

// transfer is the payment the checked authorization makes.
func (c *checked) transfer() transferOf {
	return transferOf{asset: c.asset, payer: c.auth.From, payTo: c.auth.To, value: c.auth.Value, nonce: c.auth.Nonce}
}

// checkMulticall confirms that a Multicall3 answers at addr.
func checkMulticall(ctx context.Context, backend ChainBackend, addr common.Address) error {
	sel := selector("getBlockNumber()")
	out, err := backend.CallContract(ctx, ethereum.CallMsg{To: &addr, Data: sel[:]}, nil)
	if err != nil {
		return fmt.Errorf("evm: batch settlement: calling Multicall3 at %s: %w", addr.Hex(), err)
	}
	if len(out) != 32 || new(big.Int).SetBytes(out).Sign() == 0 {
		return fmt.Errorf("evm: batch settlement: no Multicall3 at %s on this chain", addr.Hex())
	}
	return nil
}

// cloneSettle copies a settle response so that items never share one.
func cloneSettle(r *x402.SettleResponse) *x402.SettleResponse {
	c := *r
	return &c
}
