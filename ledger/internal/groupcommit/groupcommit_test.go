package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a commit function that keeps every batch it was given, and
// can hold a commit until released.
type recorder struct {
	mu      sync.Mutex
	batches [][]int
	ctxs    []context.Context
	// hold, if set, is called inside the commit of batch number n (from 0)
	// and its result returned.
	hold func(ctx context.Context, n int, batch []int) error
}

func (r *recorder) commit(ctx context.Context, batch []int) error {
	r.mu.Lock()
	n := len(r.batches)
	r.batches = append(r.batches, slices.Clone(batch))
	r.ctxs = append(r.ctxs, ctx)
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		return hold(ctx, n, batch)
	}
	return nil
}

func (r *recorder) got() [][]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// waitFor waits until cond, a condition on g's Waiting and InFlight, holds,
// checking it at each change; it fails the test if no change comes for
// a while.
func waitFor[T any](t *testing.T, g *Group[T], what string, cond func() bool) {
	t.Helper()
	for {
		changed := g.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// gated returns a hold function that blocks the first commit until gate
// is closed, and a channel closed when that commit has started.
func gated(gate <-chan struct{}) (func(context.Context, int, []int) error, <-chan struct{}) {
	started := make(chan struct{})
	return func(_ context.Context, n int, _ []int) error {
		if n == 0 {
			close(started)
			<-gate
		}
		return nil
	}, started
}

// queueInOrder starts Do(v) for each v, one after the other, each once the
// previous one is queued behind the held first commit; results go to errs.
func queueInOrder(t *testing.T, g *Group[int], ctxs map[int]context.Context, vals []int, errs map[int]chan error) {
	t.Helper()
	for _, v := range vals {
		ctx := ctxs[v]
		if ctx == nil {
			ctx = t.Context()
		}
		before := g.Waiting()
		ch := make(chan error, 1)
		errs[v] = ch
		go func() { ch <- g.Do(ctx, v) }()
		waitFor(t, g, fmt.Sprintf("value %d to queue", v), func() bool { return g.Waiting() == before+1 })
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func result(t *testing.T, ch chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Do did not return")
		return nil
	}
}

// The values that queue while a commit runs go together in the next one,
// oldest first, at most limit at once (DefaultLimit for 0).
func TestCoalesces(t *testing.T) {
	for _, tc := range []struct {
		limit int
		want  [][]int
	}{
		{100, [][]int{{0}, seq(1, 10)}},
		{0, [][]int{{0}, seq(1, 10)}},
		{4, [][]int{{0}, {1, 2, 3, 4}, {5, 6, 7, 8}, {9, 10}}},
	} {
		t.Run(fmt.Sprint("limit=", tc.limit), func(t *testing.T) {
			gate := make(chan struct{})
			r := &recorder{}
			var started <-chan struct{}
			r.hold, started = gated(gate)
			g := New(tc.limit, r.commit)

			errs := map[int]chan error{}
			queueFirst(t, g, errs, started)
			queueInOrder(t, g, nil, seq(1, 10), errs)
			close(gate)
			for v, ch := range errs {
				if err := result(t, ch); err != nil {
					t.Errorf("Do(%d): %v", v, err)
				}
			}
			if got := r.got(); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("batches %v, want %v", got, tc.want)
			}
			if n, m := g.Waiting(), g.InFlight(); n != 0 || m != 0 {
				t.Errorf("Waiting() = %d, InFlight() = %d after everything committed", n, m)
			}
		})
	}
}

// queueFirst starts Do(0) and waits until its commit is under way.
func queueFirst(t *testing.T, g *Group[int], errs map[int]chan error, started <-chan struct{}) {
	t.Helper()
	ch := make(chan error, 1)
	errs[0] = ch
	go func() { ch <- g.Do(t.Context(), 0) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the first commit did not start")
	}
	if n := g.InFlight(); n != 1 {
		t.Fatalf("InFlight() = %d during the first commit, want 1", n)
	}
}

// Sequential calls commit one value each: nothing waits for company.
func TestAlone(t *testing.T) {
	r := &recorder{}
	g := New(100, r.commit)
	for i := range 3 {
		if err := g.Do(t.Context(), i); err != nil {
			t.Fatal(err)
		}
	}
	want := [][]int{{0}, {1}, {2}}
	if got := r.got(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

var errBad = errors.New("this value is refused")

// A value refused on its own account fails alone: the rest of its batch
// is committed again without it.
func TestItemError(t *testing.T) {
	gate := make(chan struct{})
	r := &recorder{}
	first, started := gated(gate)
	r.hold = func(ctx context.Context, n int, batch []int) error {
		if i := slices.Index(batch, 3); i >= 0 {
			return fmt.Errorf("writing: %w", &ItemError{Index: i, Err: errBad})
		}
		return first(ctx, n, batch)
	}
	g := New(100, r.commit)

	errs := map[int]chan error{}
	queueFirst(t, g, errs, started)
	queueInOrder(t, g, nil, seq(1, 5), errs)
	close(gate)
	for v, ch := range errs {
		err := result(t, ch)
		if v == 3 {
			if !errors.Is(err, errBad) {
				t.Errorf("Do(3): %v, want the value's own error", err)
			}
		} else if err != nil {
			t.Errorf("Do(%d): %v", v, err)
		}
	}
	want := [][]int{{0}, {1, 2, 3, 4, 5}, {1, 2, 4, 5}}
	if got := r.got(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches %v, want %v", got, want)
	}
}

// Any other error fails the whole batch, and only it.
func TestBatchError(t *testing.T) {
	gate := make(chan struct{})
	r := &recorder{}
	first, started := gated(gate)
	boom := errors.New("disk on fire")
	r.hold = func(ctx context.Context, n int, batch []int) error {
		if n == 1 {
			return boom
		}
		return first(ctx, n, batch)
	}
	g := New(100, r.commit)
	errs := map[int]chan error{}
	queueFirst(t, g, errs, started)
	queueInOrder(t, g, nil, seq(1, 3), errs)
	close(gate)
	for v, ch := range errs {
		err := result(t, ch)
		if v == 0 && err != nil || v > 0 && !errors.Is(err, boom) {
			t.Errorf("Do(%d): %v", v, err)
		}
	}
	// The group still works.
	if err := g.Do(t.Context(), 9); err != nil {
		t.Errorf("Do after a failed batch: %v", err)
	}
}

// A caller whose context ends while its value is queued returns at once,
// and its value is never committed.
func TestCancelWhileQueued(t *testing.T) {
	gate := make(chan struct{})
	r := &recorder{}
	var started <-chan struct{}
	r.hold, started = gated(gate)
	g := New(100, r.commit)

	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	errs := map[int]chan error{}
	queueFirst(t, g, errs, started)
	queueInOrder(t, g, map[int]context.Context{1: ctx2}, []int{1, 2, 3}, errs)
	cancel2()
	// Returns while the first commit is still held.
	if err := result(t, errs[1]); !errors.Is(err, context.Canceled) {
		t.Errorf("Do(1) with its context cancelled while queued: %v", err)
	}
	if n := g.Waiting(); n != 2 {
		t.Errorf("Waiting() = %d after a cancel, want 2", n)
	}
	close(gate)
	for _, v := range []int{0, 2, 3} {
		if err := result(t, errs[v]); err != nil {
			t.Errorf("Do(%d): %v", v, err)
		}
	}
	want := [][]int{{0}, {2, 3}}
	if got := r.got(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("batches %v, want %v", got, want)
	}

	// A context already done: nothing is committed.
	if err := g.Do(ctx2, 4); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with a cancelled context: %v", err)
	}
	if got := r.got(); len(got) != 2 {
		t.Errorf("batches %v after a Do with a cancelled context", got)
	}
}

// A batch's commit is cancelled only once all its callers are gone, and a
// caller whose batch has started waits for its outcome.
func TestBatchContext(t *testing.T) {
	gate := make(chan struct{})
	release := make(chan struct{})
	inSecond := make(chan context.Context, 1)
	r := &recorder{}
	first, started := gated(gate)
	r.hold = func(ctx context.Context, n int, batch []int) error {
		if n == 0 {
			return first(ctx, n, batch)
		}
		inSecond <- ctx
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-release:
			return nil
		}
	}
	g := New(100, r.commit)

	ctx1, cancel1 := context.WithCancel(t.Context())
	defer cancel1()
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	errs := map[int]chan error{}
	queueFirst(t, g, errs, started)
	queueInOrder(t, g, map[int]context.Context{1: ctx1, 2: ctx2}, []int{1, 2}, errs)
	close(gate)
	var commitCtx context.Context
	select {
	case commitCtx = <-inSecond:
	case <-time.After(10 * time.Second):
		t.Fatal("the second commit did not start")
	}

	cancel1()
	select {
	case <-commitCtx.Done():
		t.Fatal("the commit was cancelled when one of its two callers went away")
	case err := <-errs[1]:
		t.Fatalf("Do(1) returned %v while its batch was being committed", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel2()
	select {
	case <-commitCtx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the commit was not cancelled once all its callers went away")
	}
	for _, v := range []int{1, 2} {
		if err := result(t, errs[v]); !errors.Is(err, context.Canceled) {
			t.Errorf("Do(%d): %v, want the abandoned commit's error", v, err)
		}
	}
	if err := result(t, errs[0]); err != nil {
		t.Errorf("Do(0): %v", err)
	}
	close(release)

	// The commit context keeps the first caller's values.
	type key struct{}
	r.hold = nil
	if err := g.Do(context.WithValue(t.Context(), key{}, "v"), 5); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	last := r.ctxs[len(r.ctxs)-1]
	r.mu.Unlock()
	if last.Value(key{}) != "v" {
		t.Error("the commit context lost the caller's values")
	}
}

// Many callers, some of them giving up: every value whose Do returned nil
// is committed exactly once, no other is, batches stay bounded, and each
// caller's values are committed in the order it made them.
func TestStress(t *testing.T) {
	const callers, each, limit = 32, 200, 8
	var mu sync.Mutex
	committed := map[int]int{} // value → position in commit order
	var order int
	commit := func(_ context.Context, batch []int) error {
		if len(batch) > limit {
			t.Errorf("batch of %d values, limit %d", len(batch), limit)
		}
		if rand.IntN(4) == 0 {
			time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, v := range batch {
			if _, dup := committed[v]; dup {
				t.Errorf("value %d committed twice", v)
			}
			committed[v] = order
			order++
		}
		return nil
	}
	g := New(limit, commit)
	results := make([][]error, callers)
	var wg sync.WaitGroup
	for c := range callers {
		results[c] = make([]error, each)
		wg.Go(func() {
			for i := range each {
				ctx := t.Context()
				var cancel context.CancelFunc = func() {}
				if rand.IntN(10) == 0 {
					ctx, cancel = context.WithTimeout(ctx, time.Duration(rand.IntN(100))*time.Microsecond)
				}
				results[c][i] = g.Do(ctx, c*each+i)
				cancel()
			}
		})
	}
	wg.Wait()
	ok := 0
	for c := range callers {
		last := -1
		for i, err := range results[c] {
			v := c*each + i
			pos, in := committed[v]
			switch {
			case err == nil && !in:
				t.Errorf("Do(%d) returned nil but the value was not committed", v)
			case err != nil && in:
				t.Errorf("Do(%d) returned %v but the value was committed", v, err)
			case err != nil && !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("Do(%d): %v", v, err)
			case in:
				ok++
				if pos < last {
					t.Errorf("caller %d: value %d committed before its predecessor", c, v)
				}
				last = pos
			}
		}
	}
	if ok < callers*each/2 {
		t.Errorf("only %d of %d values committed", ok, callers*each)
	}
	if n := g.Waiting(); n != 0 {
		t.Errorf("Waiting() = %d at the end", n)
	}
}
