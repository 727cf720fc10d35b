package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
)

func testClaimConcurrent(t *testing.T, s ledger.Store) {
	ClaimRace(t, []ledger.Store{s}, 100)
}

// ClaimRace claims one key from n goroutines spread over stores (which may
// be separate handles on one database, standing in for separate processes)
// and checks that exactly one claim succeeds and that every other one sees
// the winner's settlement.
func ClaimRace(t *testing.T, stores []ledger.Store, n int) {
	t.Helper()
	ctx := testContext(t)
	k := key("race")
	type result struct {
		owner    string
		existing *ledger.Settlement
		claimed  bool
		err      error
	}
	results := make([]result, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			st := newSettlement(k)
			st.Owner = fmt.Sprintf("owner-%d", i)
			start.Wait()
			existing, claimed, err := stores[i%len(stores)].Claim(ctx, st)
			results[i] = result{st.Owner, existing, claimed, err}
		})
	}
	start.Done()
	wg.Wait()

	winner := ""
	for _, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("%s: Claim: %v", r.owner, r.err)
		case r.claimed:
			if winner != "" {
				t.Errorf("both %s and %s claimed the key", winner, r.owner)
			}
			winner = r.owner
		case r.existing == nil:
			t.Errorf("%s: Claim returned neither a claim nor the existing settlement", r.owner)
		}
	}
	if winner == "" {
		t.Fatal("no goroutine claimed the key")
	}
	for _, r := range results {
		if r.err == nil && !r.claimed && r.existing != nil && r.existing.Owner != winner {
			t.Errorf("%s: existing settlement is owned by %q; want the winner %q", r.owner, r.existing.Owner, winner)
		}
	}
	if got := get(t, stores[0], k); got.Owner != winner {
		t.Errorf("stored owner %q; want the winner %q", got.Owner, winner)
	}
}

// testRecordConcurrent records from many goroutines at once, as
// concurrent verifies do: every event is stored exactly once, as recorded
// and under the ID Record gave it, and each goroutine's events, left for
// the store to time, come back newest first in the reverse of the order it
// recorded them.
func testRecordConcurrent(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	const callers, each = 16, 25
	payer := func(c int) string { return fmt.Sprintf("0xcaller-%02d", c) }
	recorded := make([][]*ledger.Event, callers)
	errs := make([]error, callers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			<-start
			for i := range each {
				e := newEvent(i, ledger.EventVerify, payer(c))
				e.Time = time.Time{} // the store's clock
				e.Resource = fmt.Sprintf("https://api.example.com/caller/%d/event/%d", c, i)
				if err := s.Record(ctx, e); err != nil {
					errs[c] = fmt.Errorf("event %d: %w", i, err)
					return
				}
				if e.ID == 0 || e.Time.IsZero() {
					errs[c] = fmt.Errorf("event %d: Record set ID %d, Time %v", i, e.ID, e.Time)
					return
				}
				recorded[c] = append(recorded[c], e)
			}
		})
	}
	close(start)
	wg.Wait()
	for c, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: Record: %v", c, err)
		}
	}

	all, err := s.Events(ctx, ledger.EventFilter{Limit: 10 * callers * each})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if len(all) != callers*each {
		t.Fatalf("Events: got %d events, want %d", len(all), callers*each)
	}
	stored := map[int64]*ledger.Event{}
	for _, e := range all {
		if stored[e.ID] != nil {
			t.Fatalf("two events with ID %d", e.ID)
		}
		stored[e.ID] = e
	}
	for c := range callers {
		for i, e := range recorded[c] {
			got := stored[e.ID]
			if got == nil {
				t.Fatalf("caller %d event %d: ID %d not stored", c, i, e.ID)
			}
			checkEvent(t, got, e)
			if i > 0 {
				prev := recorded[c][i-1]
				if e.ID <= prev.ID || e.Time.Before(prev.Time) {
					t.Errorf("caller %d event %d: ID %d, time %v after event %d's ID %d, time %v",
						c, i, e.ID, e.Time, i-1, prev.ID, prev.Time)
				}
			}
		}
		got, err := s.Events(ctx, ledger.EventFilter{Payer: payer(c), Limit: 1000})
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if len(got) != each {
			t.Fatalf("caller %d: %d events, want %d", c, len(got), each)
		}
		for k, e := range got {
			if want := recorded[c][each-1-k]; e.ID != want.ID {
				t.Errorf("caller %d: event %d newest first has ID %d, want %d", c, k, e.ID, want.ID)
			}
		}
	}
}

func testCancelledContext(t *testing.T, s ledger.Store) {
	live := testContext(t)
	existing := newSettlement(key("cancel-existing"))
	claim(t, s, existing)

	ctx, cancel := context.WithCancel(live)
	cancel()
	k := key("cancel")
	ops := []struct {
		name string
		call func() error
	}{
		{"Claim", func() error { _, _, err := s.Claim(ctx, newSettlement(k)); return err }},
		{"Claim existing", func() error { _, _, err := s.Claim(ctx, newSettlement(existing.Key)); return err }},
		{"Get", func() error { _, err := s.Get(ctx, existing.Key); return err }},
		{"Update", func() error {
			return s.Update(ctx, existing.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending})
		}},
		{"Release", func() error { return s.Release(ctx, existing.Key, "", "") }},
		{"Unfinished", func() error { _, err := s.Unfinished(ctx); return err }},
		{"Record", func() error { return s.Record(ctx, newEvent(0, ledger.EventVerify, "0xpayer")) }},
		{"Events", func() error { _, err := s.Events(ctx, ledger.EventFilter{}); return err }},
	}
	for _, op := range ops {
		done := make(chan error, 1)
		go func() { done <- op.call() }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: %v; want an error wrapping context.Canceled", op.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s with a cancelled context did not return", op.name)
		}
	}
	// Nothing was written.
	if _, err := s.Get(live, k); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Get after a cancelled Claim: %v; want ErrNotFound", err)
	}
	if got := get(t, s, existing.Key); got.Status != ledger.StatusSettling {
		t.Errorf("status %q after a cancelled Update; want settling", got.Status)
	}
	if evs, err := s.Events(live, ledger.EventFilter{}); err != nil || len(evs) != 0 {
		t.Errorf("Events after a cancelled Record: %d events, %v; want none", len(evs), err)
	}
}
