package evm_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// slowBatches forwards batch requests to the devnet after a delay (the
// round trip to a remote node, which a loopback devnet does not have) and
// counts them.
type slowBatches struct {
	next     evm.BatchCaller
	delay    time.Duration
	requests atomic.Int64
	calls    atomic.Int64
}

func (s *slowBatches) BatchCallContext(ctx context.Context, b []rpc.BatchElem) error {
	s.requests.Add(1)
	s.calls.Add(int64(len(b)))
	time.Sleep(s.delay)
	return s.next.BatchCallContext(ctx, b)
}

// TestVerifyReadsAreCoalesced: concurrent verifies share JSON-RPC batch
// requests and aggregate3 eth_calls, and each still gets its own verdict.
func TestVerifyReadsAreCoalesced(t *testing.T) {
	var counter *slowBatches
	w := newWorld(t, 0, func(c *evm.ExactFacilitatorConfig) {
		counter = &slowBatches{next: c.Backend.(interface{ Client() *rpc.Client }).Client(), delay: 20 * time.Millisecond}
		c.RPC = counter
	})
	ctx := t.Context()
	req := w.requirements(t, "$0.001")
	const n = 40
	payments := make([]*x402.Payment, n)
	accts := w.net.Accounts()
	clients := []*evm.ExactClient{w.client, newClient(t, accts[2].PrivateKey), newClient(t, accts[3].PrivateKey)}
	for i := range payments {
		payments[i] = pay(t, clients[i%len(clients)], req)
	}
	// One of them is already used on chain: its verdict must not leak to
	// the others sharing its batch.
	if s, err := w.fac.Settle(ctx, payments[7], x402.SettleHooks{}); err != nil || !s.Success {
		t.Fatalf("settle: %+v %v", s, err)
	}
	counter.requests.Store(0)
	counter.calls.Store(0)

	results := make([]*x402.VerifyResponse, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range payments {
		wg.Go(func() { results[i], errs[i] = w.fac.Verify(ctx, payments[i]) })
	}
	wg.Wait()
	for i, r := range results {
		switch {
		case errs[i] != nil:
			t.Fatalf("verify %d: %v", i, errs[i])
		case i == 7 && (r.IsValid || r.InvalidReason != x402.ReasonExactEVMNonceAlreadyUsed):
			t.Errorf("verify of the settled payment: %+v", r)
		case i != 7 && !r.IsValid:
			t.Errorf("verify %d: %+v", i, r)
		}
	}
	requests, calls := counter.requests.Load(), counter.calls.Load()
	// Through Multicall3 (the devnet has it), the reads of a batch are a
	// few aggregate3 eth_calls instead of three per verify: one for every
	// simulated transfer of the same payer (three payers here), the reads
	// in the first.
	if calls > n/2 {
		t.Errorf("%d eth_calls for %d verifies: the reads were not aggregated", calls, n)
	}
	if requests >= n {
		t.Errorf("%d batch requests for %d verifies: nothing was coalesced", requests, n)
	}
	t.Logf("%d verifies, %d eth_calls in %d batch requests", n, calls, requests)
}
