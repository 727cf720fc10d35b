// Package queuetest is a conformance test suite for implementations of
// x402http.Queue (and x402http.ExpiringQueue): claims that make one payment
// buy one response, durable enqueueing, leases handing each item to one
// worker across handles sharing one store, lease expiry, retry backoff and
// final outcomes. x402http/sqlitequeue and x402http/pgqueue run it.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// Options configures a handle opened by an [Opener].
type Options struct {
	// Now is the handle's clock (never nil).
	Now func() time.Time
	// Lease is the handle's lease.
	Lease time.Duration
}

// Opener opens a handle on one store: every handle an Opener returns
// shares the same store, as replicas of a server would. Handles are closed
// by the Opener's cleanups.
type Opener func(t *testing.T, o Options) x402http.Queue

// Clock is a settable test clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t, truncated to the millisecond.
func NewClock(t time.Time) *Clock { return &Clock{now: t.Truncate(time.Millisecond)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Run runs the suite. newStore returns an Opener on a new, empty store
// for each subtest.
func Run(t *testing.T, req *x402.FacilitatorRequest, newStore func(t *testing.T) Opener) {
	t.Run("ClaimsAreUnique", func(t *testing.T) { testClaims(t, req, newStore(t)) })
	t.Run("ConcurrentClaimsAcrossHandles", func(t *testing.T) { testConcurrentClaims(t, newStore(t)) })
	t.Run("LeaseAndExpiry", func(t *testing.T) { testLease(t, req, newStore(t)) })
	t.Run("ConcurrentNextHandsEachItemOnce", func(t *testing.T) { testConcurrentNext(t, req, newStore(t)) })
	t.Run("RetryAndOutcomes", func(t *testing.T) { testOutcomes(t, req, newStore(t)) })
	t.Run("Urgency", func(t *testing.T) { testUrgency(t, req, newStore(t)) })
}

const hour = time.Hour

func testClaims(t *testing.T, req *x402.FacilitatorRequest, open Opener) {
	ctx := t.Context()
	c := NewClock(time.Now())
	a, b := open(t, Options{Now: c.Now, Lease: time.Minute}), open(t, Options{Now: c.Now, Lease: time.Minute})
	until := c.Now().Add(hour)
	if err := a.Claim(ctx, "k1", until); err != nil {
		t.Fatal(err)
	}
	if err := b.Claim(ctx, "k1", until); !errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("second claim through another handle: %v, want ErrDuplicate", err)
	}
	if err := a.Claim(ctx, "", until); err == nil || errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("empty key claimed: %v", err)
	}
	// A released claim may be claimed again.
	if err := b.Release(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := b.Claim(ctx, "k1", until); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	// Once queued, release does nothing and the key stays refused.
	if err := b.Enqueue(ctx, "k1", req); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Claim(ctx, "k1", until); !errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("claim of a queued key: %v", err)
	}
	if err := a.Enqueue(ctx, "k1", req); !errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("second enqueue: %v", err)
	}
	// A key queued without a claim is claimed by it.
	if err := a.Enqueue(ctx, "k2", req); err != nil {
		t.Fatal(err)
	}
	if err := b.Claim(ctx, "k2", until); !errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("claim of a key queued unclaimed: %v", err)
	}
	// Empty keys are not checked for duplicates.
	for range 2 {
		if err := a.Enqueue(ctx, "", req); err != nil {
			t.Fatalf("enqueue without key: %v", err)
		}
	}
}

func testConcurrentClaims(t *testing.T, open Opener) {
	ctx := t.Context()
	c := NewClock(time.Now())
	qs := []x402http.Queue{open(t, Options{Now: c.Now, Lease: time.Minute}), open(t, Options{Now: c.Now, Lease: time.Minute})}
	const keys, copies = 20, 8
	var won [keys]atomic.Int32
	var wg sync.WaitGroup
	for k := range keys {
		for i := range copies {
			wg.Go(func() {
				err := qs[i%2].Claim(ctx, fmt.Sprintf("key-%d", k), c.Now().Add(hour))
				switch {
				case err == nil:
					won[k].Add(1)
				case !errors.Is(err, x402http.ErrDuplicate):
					t.Errorf("claim: %v", err)
				}
			})
		}
	}
	wg.Wait()
	for k := range keys {
		if n := won[k].Load(); n != 1 {
			t.Errorf("key %d claimed %d times by %d concurrent copies, want once", k, n, copies)
		}
	}
}

// next takes an item that must be due now.
func next(t *testing.T, q x402http.Queue) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	id, r, err := q.Next(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", false
		}
		t.Fatal(err)
	}
	if r == nil {
		t.Fatal("Next returned no request")
	}
	return id, true
}

func testLease(t *testing.T, req *x402.FacilitatorRequest, open Opener) {
	ctx := t.Context()
	c := NewClock(time.Now())
	a, b := open(t, Options{Now: c.Now, Lease: time.Minute}), open(t, Options{Now: c.Now, Lease: time.Minute})
	if err := a.Claim(ctx, "k", c.Now().Add(hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.Enqueue(ctx, "k", req); err != nil {
		t.Fatal(err)
	}
	id, ok := next(t, a)
	if !ok {
		t.Fatal("a queued item was not handed out")
	}
	// Leased: no other handle gets it...
	if id2, ok := next(t, b); ok {
		t.Fatalf("leased item %s handed out again (%s)", id, id2)
	}
	// ...until the lease runs out: the worker died mid-settle.
	c.Add(time.Minute + time.Second)
	id2, ok := next(t, b)
	if !ok || id2 != id {
		t.Fatalf("after the lease ran out: %q %v, want %q", id2, ok, id)
	}
	if eq, ok := b.(x402http.ExpiringQueue); ok {
		c.Add(time.Minute + time.Second)
		it, err := eq.NextSettlement(ctx)
		if err != nil || it.ID != id || it.Attempts != 3 || it.Request == nil {
			t.Fatalf("third hand-out: %+v %v, want attempt 3 of %s", it, err, id)
		}
	}
	// The dead worker's late failure does not undo the other's success.
	if err := b.Done(ctx, id, &x402.SettleResponse{Success: true, Transaction: "0x01"}, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Done(ctx, id, &x402.SettleResponse{ErrorReason: "invalid_nonce"}, false); err != nil {
		t.Fatal(err)
	}
	if err := a.Done(ctx, id, &x402.SettleResponse{ErrorReason: x402.ReasonSettlementPending}, true); err != nil {
		t.Fatal(err)
	}
	c.Add(hour / 2)
	if id3, ok := next(t, a); ok {
		t.Fatalf("a settled item came back: %s", id3)
	}
}

func testConcurrentNext(t *testing.T, req *x402.FacilitatorRequest, open Opener) {
	ctx := t.Context()
	c := NewClock(time.Now())
	const items, handles, workers = 30, 3, 4
	qs := make([]x402http.Queue, handles)
	for i := range qs {
		qs[i] = open(t, Options{Now: c.Now, Lease: hour})
	}
	for i := range items {
		if err := qs[i%handles].Enqueue(ctx, fmt.Sprintf("k%d", i), req); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for i := range handles * workers {
		wg.Go(func() {
			for {
				nctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				id, _, err := qs[i%handles].Next(nctx)
				cancel()
				if err != nil {
					return
				}
				mu.Lock()
				got[id]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != items {
		t.Errorf("%d distinct items handed out, want %d", len(got), items)
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("item %s handed out %d times", id, n)
		}
	}
}

func testOutcomes(t *testing.T, req *x402.FacilitatorRequest, open Opener) {
	ctx := t.Context()
	c := NewClock(time.Now())
	q := open(t, Options{Now: c.Now, Lease: time.Minute})
	for _, k := range []string{"ok", "bad"} {
		if err := q.Claim(ctx, k, c.Now().Add(hour)); err != nil {
			t.Fatal(err)
		}
		if err := q.Enqueue(ctx, k, req); err != nil {
			t.Fatal(err)
		}
	}
	first, _ := next(t, q)
	second, _ := next(t, q)
	if first == "" || second == "" || first == second {
		t.Fatalf("items %q %q", first, second)
	}
	// A retry is due again after a backoff, not before.
	if err := q.Done(ctx, first, &x402.SettleResponse{ErrorReason: x402.ReasonSettlementPending}, true); err != nil {
		t.Fatal(err)
	}
	if id, ok := next(t, q); ok {
		t.Fatalf("retried item %s came back before its backoff", id)
	}
	c.Add(10 * time.Second)
	if id, ok := next(t, q); !ok || id != first {
		t.Fatalf("retried item after its backoff: %q %v, want %q", id, ok, first)
	}
	if err := q.Done(ctx, first, &x402.SettleResponse{Success: true}, false); err != nil {
		t.Fatal(err)
	}
	if err := q.Done(ctx, second, &x402.SettleResponse{ErrorReason: "invalid_signature"}, false); err != nil {
		t.Fatal(err)
	}
	c.Add(hour / 2)
	if id, ok := next(t, q); ok {
		t.Fatalf("finished item %s handed out", id)
	}
	for _, k := range []string{"ok", "bad"} {
		if err := q.Claim(ctx, k, c.Now().Add(hour)); !errors.Is(err, x402http.ErrDuplicate) {
			t.Errorf("claim of finished key %s: %v", k, err)
		}
	}
	if err := q.Done(ctx, "not-an-id", nil, false); err == nil {
		t.Error("Done of a malformed id succeeded")
	}
}

func testUrgency(t *testing.T, req *x402.FacilitatorRequest, open Opener) {
	ctx := t.Context()
	c := NewClock(time.Now())
	q := open(t, Options{Now: c.Now, Lease: hour})
	eq, ok := q.(x402http.ExpiringQueue)
	if !ok {
		t.Skip("not an ExpiringQueue")
	}
	if b, err := eq.Backlog(ctx); err != nil || b.Queued != 0 {
		t.Fatalf("empty backlog: %+v %v", b, err)
	}
	base := c.Now()
	exp := map[string]time.Time{"late": base.Add(10 * time.Minute), "soon": base.Add(2 * time.Minute), "middle": base.Add(5 * time.Minute)}
	for _, k := range []string{"late", "soon", "middle"} {
		if err := q.Claim(ctx, k, exp[k]); err != nil {
			t.Fatal(err)
		}
		if err := q.Enqueue(ctx, k, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Enqueue(ctx, "unknown", req); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	b, err := eq.Backlog(ctx)
	if err != nil || b.Queued != 4 || !b.Oldest.Expires.Equal(exp["soon"]) || !b.Oldest.Claimed.Equal(base) {
		t.Fatalf("backlog %+v %v: want 4 queued, oldest expiring %v", b, err, exp["soon"])
	}
	var prev time.Time
	for i := range 4 {
		it, err := eq.NextSettlement(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if i < 3 && (it.Expires.IsZero() || it.Expires.Before(prev)) {
			t.Errorf("item %d expires %v, after %v: not the most urgent first", i, it.Expires, prev)
		}
		if i == 3 && !it.Expires.IsZero() {
			t.Errorf("the item without expiry came before one with (%v)", it.Expires)
		}
		prev = it.Expires
		if err := q.Done(ctx, it.ID, &x402.SettleResponse{Success: true}, false); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := eq.Backlog(ctx); err != nil || b.Queued != 0 {
		t.Fatalf("backlog after all settled: %+v %v", b, err)
	}
}
