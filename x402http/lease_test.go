package x402http_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

type slowSettle struct {
	x402.Facilitator
	n, inflight, maxIn atomic.Int64
}

func (f *slowSettle) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.n.Add(1)
	in := f.inflight.Add(1)
	defer f.inflight.Add(-1)
	for {
		m := f.maxIn.Load()
		if in <= m || f.maxIn.CompareAndSwap(m, in) {
			break
		}
	}
	time.Sleep(700 * time.Millisecond) // a settlement waiting for its block, longer than the lease
	return &x402.SettleResponse{Success: true, Network: req.Network()}, nil
}

// TestLeaseShorterThanSettlementSettlesOnce: one queued item, a lease
// shorter than a settlement (a slow block): the queue hands it out again,
// and no second worker of the pool settles it while the first still does.
func TestLeaseShorterThanSettlementSettlesOnce(t *testing.T) {
	c := newSlowChain(t)
	fac := &slowSettle{Facilitator: c.st.Facilitator}
	q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: c.qpath, PollInterval: 20 * time.Millisecond, Lease: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	mw, srv := c.serve(t, x402http.Config{Queue: q, Facilitator: fac, SettleWorkers: 4})
	req := c.offer(t, srv)
	if err := q.Enqueue(t.Context(), "k1", c.request(t, req)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	_ = mw.RunSettlements(ctx)
	t.Logf("settle calls %d, max concurrent on one item %d, stats %+v", fac.n.Load(), fac.maxIn.Load(), mw.SettlementStats())
	if fac.maxIn.Load() > 1 {
		t.Errorf("one queued item was settled by %d workers at once", fac.maxIn.Load())
	}
}
