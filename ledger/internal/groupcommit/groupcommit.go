// Package groupcommit writes the values of concurrent callers together, in
// one commit, while each caller still returns only once its own value is
// committed (group commit). It has no goroutine of its own: the first
// caller to arrive while no commit is under way becomes the leader and
// commits everything queued (up to a bound), including its own value; the
// callers that queued meanwhile wait. When the leader's commit ends it
// wakes its followers with their results and hands the lead to the oldest
// caller still queued, which commits the next batch. So each caller commits
// at most one batch, and a commit that takes as long as an fsync gathers
// every value that arrived during the previous one.
//
// The stores use it for ledger events, whose cost is the commit (one fsync
// per transaction), not the row.
package groupcommit

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// ItemError is what a commit function returns when the value at Index
// cannot be written, on its own account (a value the database refuses),
// and nothing of the batch was written. The group gives Err to that
// value's caller and commits the rest of the batch again without it, so
// that one bad value does not fail the values batched with it.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return e.Err.Error() }
func (e *ItemError) Unwrap() error { return e.Err }

// Commit writes a batch of values, all or none, and returns once they are
// durable. ctx is done only when every caller in the batch has gone away.
// It may set fields of the values (ids, say): their callers read them after
// Do returns.
type Commit[T any] func(ctx context.Context, batch []T) error

// Group batches the values of concurrent [Group.Do] calls into commits. It
// is safe for concurrent use; the zero value is not usable (see [New]).
type Group[T any] struct {
	max    int
	commit Commit[T]

	mu       sync.Mutex
	queue    []*item[T]    // waiting for a batch, oldest first
	leading  bool          // a caller is committing, or has been handed the lead
	inFlight int           // values in the batch being committed
	changed  chan struct{} // closed at the next change of queue or inFlight; nil until Changed
}

type state int

const (
	queued   state = iota
	inFlight       // in a batch being committed
	done
)

type item[T any] struct {
	v    T
	ctx  context.Context
	wake chan struct{} // capacity 1: a wake-up never blocks nor is lost

	// Guarded by Group.mu.
	state state
	lead  bool // this caller commits the next batch
	err   error
}

// DefaultLimit is the most values a group commits at once when New is
// given no limit.
const DefaultLimit = 128

// New returns a group that commits at most limit values at once
// (DefaultLimit if limit is not positive) through commit.
func New[T any](limit int, commit Commit[T]) *Group[T] {
	if limit <= 0 {
		limit = DefaultLimit
	}
	return &Group[T]{max: limit, commit: commit}
}

// Do commits v, together with the values of concurrent calls, and returns
// once the commit holding v has ended: nil means v is durable. If ctx ends
// while v is still queued, Do returns ctx.Err() and v is never written; once
// v's batch has started, Do waits for its outcome (the batch is abandoned
// only when all its callers are gone).
func (g *Group[T]) Do(ctx context.Context, v T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	it := &item[T]{v: v, ctx: ctx, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, it)
	g.notify()
	if !g.leading {
		g.leading, it.lead = true, true
	}
	g.mu.Unlock()

	ctxDone := ctx.Done()
	for {
		g.mu.Lock()
		switch {
		case it.lead:
			// Checked first: a caller handed the lead leads even if its
			// own value is gone, or the others would wait forever.
			it.lead = false
			g.mu.Unlock()
			// Callers woken together (say, by one chain read serving many
			// verifies) are runnable now: yielding once lets them queue
			// for this batch rather than the next, so fewer, fuller
			// commits. A lone caller loses a few microseconds.
			runtime.Gosched()
			g.commitNext()
			continue
		case it.state == done:
			g.mu.Unlock()
			return it.err
		}
		g.mu.Unlock()
		select {
		case <-it.wake:
		case <-ctxDone:
			ctxDone = nil
			g.mu.Lock()
			if it.state == queued {
				g.queue = remove(g.queue, it)
				g.notify()
				it.state, it.err = done, ctx.Err()
			}
			g.mu.Unlock()
		}
	}
}

// Waiting returns how many values are queued for the next batch (not
// counting a batch being committed).
func (g *Group[T]) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// InFlight returns how many values are in the batch being committed.
func (g *Group[T]) InFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

// Changed returns a channel that is closed at the next change of Waiting or
// InFlight, so that a caller (a test) can wait for a state without polling:
// take the channel, check the state, and wait on the channel if it does not
// hold yet.
func (g *Group[T]) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed == nil {
		g.changed = make(chan struct{})
	}
	return g.changed
}

// notify wakes the callers of Changed; g.mu is held.
func (g *Group[T]) notify() {
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
}

// commitNext commits the oldest queued values (at most max), gives each
// its result, and hands the lead on to the oldest value still queued.
func (g *Group[T]) commitNext() {
	g.mu.Lock()
	batch := make([]*item[T], 0, min(len(g.queue), g.max))
	n := 0
	for ; n < len(g.queue) && len(batch) < g.max; n++ {
		it := g.queue[n]
		if err := it.ctx.Err(); err != nil {
			// Gone before its batch started: never written.
			it.state, it.err = done, err
			wake(it)
			continue
		}
		it.state = inFlight
		batch = append(batch, it)
	}
	rest := copy(g.queue, g.queue[n:])
	clear(g.queue[rest:])
	g.queue = g.queue[:rest]
	g.inFlight = len(batch)
	g.notify()
	g.mu.Unlock()

	if len(batch) > 0 {
		g.write(batch)
	}

	g.mu.Lock()
	g.inFlight = 0
	g.notify()
	for _, it := range batch {
		it.state = done
		wake(it)
	}
	if len(g.queue) > 0 {
		g.queue[0].lead = true
		wake(g.queue[0])
	} else {
		g.leading = false
	}
	g.mu.Unlock()
}

// write commits batch, setting each item's err; a value the commit refuses
// on its own account (ItemError) is taken out and the rest committed again.
func (g *Group[T]) write(batch []*item[T]) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	vals := make([]T, 0, len(batch))
	for len(batch) > 0 {
		vals = vals[:0]
		for _, it := range batch {
			vals = append(vals, it.v)
		}
		err := g.commit(ctx, vals)
		var ie *ItemError
		if errors.As(err, &ie) && ie.Index >= 0 && ie.Index < len(batch) {
			batch[ie.Index].err = ie.Err
			batch = append(batch[:ie.Index:ie.Index], batch[ie.Index+1:]...)
			continue
		}
		for _, it := range batch {
			it.err = err
		}
		return
	}
}

// batchContext returns the context of a batch's commit: it carries the
// values of the first caller's context, and is cancelled once every
// caller's context is done, so that no single caller's going away aborts
// the others' commit.
func batchContext[T any](batch []*item[T]) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, 0, len(batch))
	for _, it := range batch {
		stops = append(stops, context.AfterFunc(it.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}

// wake signals its caller to look at its state again.
func wake[T any](it *item[T]) {
	select {
	case it.wake <- struct{}{}:
	default:
	}
}

// remove returns q without it, keeping the order.
func remove[T any](q []*item[T], it *item[T]) []*item[T] {
	for i, x := range q {
		if x == it {
			copy(q[i:], q[i+1:])
			q[len(q)-1] = nil
			return q[:len(q)-1]
		}
	}
	return q
}
