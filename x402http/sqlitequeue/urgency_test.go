package sqlitequeue_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// queueAt claims and queues key, claimed at claimed and expiring at
// expires, on a queue whose clock says claimed.
func queueAt(t *testing.T, path, key string, claimed, expires time.Time) {
	t.Helper()
	q := open(t, path, func() time.Time { return claimed })
	if err := q.Claim(t.Context(), key, expires); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(t.Context(), key, request(t)); err != nil {
		t.Fatal(err)
	}
}

func TestNextHandsOutTheMostUrgentFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	// Queued in this order, expiring in another; an item queued without a
	// claim has no known expiry and comes last.
	queueAt(t, path, "late", base, base.Add(10*time.Minute))
	queueAt(t, path, "soon", base.Add(time.Second), base.Add(2*time.Minute))
	queueAt(t, path, "middle", base.Add(2*time.Second), base.Add(5*time.Minute))
	q := open(t, path, nil)
	if err := q.Enqueue(t.Context(), "unknown", request(t)); err != nil {
		t.Fatal(err)
	}
	// Rows are numbered in queue order: late 1, soon 2, middle 3,
	// unknown 4.
	for i, want := range []string{"2", "3", "1", "4"} {
		id, req, err := q.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if id != want || req == nil {
			t.Errorf("item %d: %s, want %s", i, id, want)
		}
	}
	// The same through NextSettlement, with the deadlines.
	q2 := open(t, filepath.Join(t.TempDir(), "q2.db"), nil)
	for _, k := range []string{"late", "soon"} {
		exp := map[string]time.Time{"late": base.Add(10 * time.Minute), "soon": base.Add(2 * time.Minute)}[k]
		if err := q2.Claim(t.Context(), k, exp); err != nil {
			t.Fatal(err)
		}
		if err := q2.Enqueue(t.Context(), k, request(t)); err != nil {
			t.Fatal(err)
		}
	}
	it, err := q2.NextSettlement(t.Context())
	if err != nil || !it.Expires.Equal(base.Add(2*time.Minute)) || it.Attempts != 1 || it.Request == nil {
		t.Errorf("next settlement: %+v %v", it, err)
	}
}

func TestConcurrentNextAcrossHandlesHandsEachItemOnce(t *testing.T) {
	// Several workers on two handles of one file (as two processes would
	// have): every item is handed out exactly once.
	path := filepath.Join(t.TempDir(), "q.db")
	const n = 40
	base := time.Now()
	for i := range n {
		queueAt(t, path, fmt.Sprintf("k%d", i), base, base.Add(time.Duration(n-i)*time.Minute))
	}
	handles := []*sqlitequeue.Queue{open(t, path, nil), open(t, path, nil)}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			q := handles[w%2]
			for {
				mu.Lock()
				total := 0
				for _, c := range seen {
					total += c
				}
				mu.Unlock()
				if total >= n {
					return
				}
				id, ok, err := takeNow(t, q)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					seen[id]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d distinct items handed out, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("item %s handed out %d times", id, c)
		}
	}
}

// takeNow is Next that gives up when nothing is due at once.
func takeNow(t *testing.T, q *sqlitequeue.Queue) (string, bool, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	id, _, err := q.Next(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, nil
		}
		return "", false, err
	}
	return id, true, nil
}

func TestBacklogReportsTheQueuedItemFurthestIntoItsTime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	now := time.Now()
	// a: 30 s of 10 min used; b: 40 s of 61 s used (the most); c: claimed
	// only, not queued, is not counted; d: done, not counted.
	queueAt(t, path, "a", now.Add(-30*time.Second), now.Add(570*time.Second))
	queueAt(t, path, "b", now.Add(-40*time.Second), now.Add(21*time.Second))
	q := open(t, path, func() time.Time { return now })
	if b, err := q.Backlog(t.Context()); err != nil || b.Queued != 2 || b.Oldest.Expires.IsZero() || b.Throughput != 0 {
		t.Fatalf("backlog: %+v %v", b, err)
	}
	if err := q.Claim(t.Context(), "c", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	old := open(t, path, func() time.Time { return now.Add(-59 * time.Second) })
	if err := old.Claim(t.Context(), "d", now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := old.Enqueue(t.Context(), "d", request(t)); err != nil {
		t.Fatal(err)
	}
	it, err := q.NextSettlement(t.Context()) // d expires first
	if err != nil || !it.Expires.Equal(now.Add(2*time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("next: %+v %v", it, err)
	}
	if err := q.Done(t.Context(), it.ID, &x402.SettleResponse{Success: true}, false); err != nil {
		t.Fatal(err)
	}
	b, err := q.Backlog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(21 * time.Second).Truncate(time.Millisecond); !b.Oldest.Expires.Equal(want) {
		t.Errorf("oldest expires %v, want b's %v", b.Oldest.Expires, want)
	}
	// a and b queued; d finished within the last 10 s: 0.1 a second.
	if b.Queued != 2 || b.Throughput != 0.1 {
		t.Errorf("backlog %+v, want 2 queued, 0.1/s", b)
	}
	// An empty queue has no backlog.
	empty := open(t, filepath.Join(t.TempDir(), "e.db"), nil)
	if b, err := empty.Backlog(t.Context()); err != nil || b != (x402http.Backlog{}) {
		t.Errorf("empty queue: %+v %v", b, err)
	}
}

func TestRetryBackoffStaysWithinTheValidity(t *testing.T) {
	// Each retry waits at most half the time the item has left, however
	// many attempts it had: an item is tried again while it is valid.
	path := filepath.Join(t.TempDir(), "q.db")
	now := time.Now().Truncate(time.Millisecond)
	expires := now.Add(60 * time.Second)
	clock := now
	q := open(t, path, func() time.Time { return clock })
	if err := q.Claim(t.Context(), "k", expires); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(t.Context(), "k", request(t)); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		id, ok, err := takeNow(t, q)
		if err != nil || !ok {
			t.Fatalf("attempt %d: not due with %v left: %v", i+1, expires.Sub(clock), err)
		}
		if err := q.Done(t.Context(), id, &x402.SettleResponse{ErrorReason: x402.ReasonSettlementPending}, true); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(expires.Sub(clock) / 2).Truncate(time.Millisecond)
	}
}
