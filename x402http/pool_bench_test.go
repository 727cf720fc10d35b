package x402http_test

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402http"
)

// BenchmarkServeThenSettleSlowBlocks measures the paid requests a second
// a serve-then-settle route sustains on a chain mining one block every
// 2 s: b.N payments are served (16 clients, each backing off for
// Retry-After when the route answers 503) and all settled by the worker
// pool, from the first request to the last settlement. It reports
// req/s (settled payments a second), expired (payments that expired in the
// queue, served unpaid: it must be 0) and 503s. Run it with a fixed count:
//
//	go test -run '^$' -bench ServeThenSettleSlowBlocks -benchtime 400x ./x402http/
func BenchmarkServeThenSettleSlowBlocks(b *testing.B) {
	c := newSlowChain(b)
	q := c.queue(b, nil)
	mw, srv := c.serve(b, x402http.Config{Queue: q})
	req := c.offer(b, srv)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- mw.RunSettlements(ctx) }()
	defer func() {
		cancel()
		if err := <-stopped; err != nil {
			b.Error(err)
		}
	}()
	var left, refused atomic.Int64
	left.Store(int64(b.N))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				for {
					status, retryAfter := get(b, srv, c.pay(b, req))
					if status == http.StatusOK {
						break
					}
					if status != http.StatusServiceUnavailable {
						b.Errorf("status %d", status)
						return
					}
					refused.Add(1)
					secs, _ := strconv.Atoi(retryAfter)
					time.Sleep(time.Duration(max(secs, 1)) * time.Second)
				}
			}
		})
	}
	wg.Wait()
	for {
		queued, _, _, err := q.Counts(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if queued == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := mw.SettlementStats()
	_, done, failed, _ := q.Counts(context.Background())
	if done != b.N || failed != 0 || int(st.Settled) != b.N {
		b.Errorf("%d payments: %d settled, %d failed (%d expired)", b.N, done, failed, st.Expired)
	}
	b.ReportMetric(float64(done)/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(st.Expired), "expired")
	b.ReportMetric(float64(refused.Load()), "503s")
	b.ReportMetric(0, "ns/op")
}
