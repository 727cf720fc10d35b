package ledgertest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
)

func testEvents(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	if evs, err := s.Events(ctx, ledger.EventFilter{}); err != nil || len(evs) != 0 {
		t.Fatalf("Events of an empty store: %d events, %v; want none", len(evs), err)
	}
	a := newEvent(0, ledger.EventVerify, "0xpayer-a")
	b := newEvent(1, ledger.EventSettle, "0xpayer-b")
	c := newEvent(2, ledger.EventSettle, "0xpayer-a")
	c2 := newEvent(2, ledger.EventVerify, "0xpayer-c") // same time as c, recorded later
	recorded := []*ledger.Event{a, b, c, c2}
	for _, e := range recorded {
		if err := s.Record(ctx, e); err != nil {
			t.Fatalf("Record: %v", err)
		}
		if e.ID == 0 {
			t.Fatal("Record did not set the event's ID")
		}
	}
	ids := map[int64]bool{}
	for _, e := range recorded {
		if ids[e.ID] {
			t.Errorf("ID %d given twice", e.ID)
		}
		ids[e.ID] = true
	}

	// The store sets the time of an event without one.
	now := &ledger.Event{Kind: ledger.EventSettle, Payer: "0xpayer-now", Status: "error", Message: "no time"}
	start := time.Now()
	if err := s.Record(ctx, now); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if d := now.Time.Sub(start); now.Time.IsZero() || d < -time.Minute || d > time.Minute {
		t.Errorf("Record set Time %v, %v away from now", now.Time, d)
	}

	got, err := s.Events(ctx, ledger.EventFilter{})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	want := []*ledger.Event{now, c2, c, b, a}
	if len(got) != len(want) {
		t.Fatalf("Events: got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		checkEvent(t, got[i], want[i])
	}
}

func testEventsFilter(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	var all []*ledger.Event
	for i := range 12 {
		kind := ledger.EventVerify
		if i%2 == 1 {
			kind = ledger.EventSettle
		}
		e := newEvent(i, kind, fmt.Sprintf("0xpayer-%d", i%3))
		if err := s.Record(ctx, e); err != nil {
			t.Fatalf("Record: %v", err)
		}
		all = append(all, e)
	}
	newestFirst := func(keep func(e *ledger.Event) bool, limit int) []*ledger.Event {
		var out []*ledger.Event
		for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
			if keep(all[i]) {
				out = append(out, all[i])
			}
		}
		return out
	}
	cases := []struct {
		f    ledger.EventFilter
		keep func(e *ledger.Event) bool
	}{
		{ledger.EventFilter{Kind: ledger.EventSettle}, func(e *ledger.Event) bool { return e.Kind == ledger.EventSettle }},
		{ledger.EventFilter{Kind: ledger.EventVerify}, func(e *ledger.Event) bool { return e.Kind == ledger.EventVerify }},
		{ledger.EventFilter{Payer: "0xpayer-1"}, func(e *ledger.Event) bool { return e.Payer == "0xpayer-1" }},
		{ledger.EventFilter{Payer: "0xPAYER-1"}, func(e *ledger.Event) bool { return false }},
		{ledger.EventFilter{Kind: ledger.EventSettle, Payer: "0xpayer-0"}, func(e *ledger.Event) bool {
			return e.Kind == ledger.EventSettle && e.Payer == "0xpayer-0"
		}},
		{ledger.EventFilter{Limit: 3}, func(e *ledger.Event) bool { return true }},
		{ledger.EventFilter{Kind: ledger.EventVerify, Limit: 2}, func(e *ledger.Event) bool { return e.Kind == ledger.EventVerify }},
		{ledger.EventFilter{Kind: "other"}, func(e *ledger.Event) bool { return false }},
	}
	for _, tc := range cases {
		limit := tc.f.Limit
		if limit == 0 {
			limit = 100
		}
		want := newestFirst(tc.keep, limit)
		got, err := s.Events(ctx, tc.f)
		if err != nil {
			t.Fatalf("Events(%+v): %v", tc.f, err)
		}
		if len(got) != len(want) {
			t.Errorf("Events(%+v): got %d events, want %d", tc.f, len(got), len(want))
			continue
		}
		for i := range want {
			checkEvent(t, got[i], want[i])
		}
	}
}

func testEventsDefaultLimit(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	const n = 105
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for w := range 5 {
		wg.Go(func() {
			for i := w; i < n; i += 5 {
				errs <- s.Record(ctx, newEvent(i, ledger.EventVerify, "0xpayer"))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Record: %v", err)
		}
	}
	got, err := s.Events(ctx, ledger.EventFilter{})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if len(got) != 100 {
		t.Fatalf("Events with no limit: got %d events, want 100", len(got))
	}
	for i, e := range got {
		if want := newEvent(n-1-i, ledger.EventVerify, "0xpayer").Time; !e.Time.Equal(want) {
			t.Fatalf("event %d: time %v, want %v (newest first)", i, e.Time, want)
		}
	}
	if got, err := s.Events(ctx, ledger.EventFilter{Limit: 1000}); err != nil || len(got) != n {
		t.Errorf("Events with limit 1000: %d events, %v; want %d", len(got), err, n)
	}
}
