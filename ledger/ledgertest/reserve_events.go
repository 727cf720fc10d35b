package ledgertest

import (
	"math/big"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
)

// withEvent sets r.Event to record a verify event whose status is the
// outcome, and returns the event it last built.
func withEvent(r *ledger.Reservation) **ledger.Event {
	last := new(*ledger.Event)
	r.Event = func(res ledger.ReserveResult) *ledger.Event {
		e := &ledger.Event{Kind: ledger.EventVerify, Version: 2, Scheme: "exact", Network: r.Key.Network,
			Asset: r.Key.Asset, Payer: r.Key.Payer, Amount: r.Amount.String(), Resource: "https://example.com/" + r.Key.Nonce,
			Status: "valid"}
		if !res.Reserved {
			e.Status, e.Reason, e.Message = "invalid", "insufficient_funds", "held: "+res.Held.String()
		}
		*last = e
		return e
	}
	return last
}

// testReserveEvent: the event of Reservation.Event is recorded with the
// reservation, and reflects its outcome.
func testReserveEvent(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	r := reservation(key("ev-a"), 60, 100, time.Time{})
	last := withEvent(r)
	reserve(t, s, r, reserved)
	ev := *last
	if ev == nil || ev.ID == 0 || ev.Time.IsZero() {
		t.Fatalf("event of a reservation: %+v; want one recorded (ID and Time set)", ev)
	}
	r2 := reservation(key("ev-b"), 60, 100, time.Time{})
	last2 := withEvent(r2)
	reserve(t, s, r2, short(60))
	if *last2 == nil || (*last2).ID <= ev.ID {
		t.Fatalf("event of a refused reservation: %+v; want recorded after %d", *last2, ev.ID)
	}
	evs, err := s.Events(ctx, ledger.EventFilter{Kind: ledger.EventVerify, Payer: r.Key.Payer})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if len(evs) != 2 {
		t.Fatalf("Events: %d verify events; want 2", len(evs))
	}
	got := map[string]*ledger.Event{}
	for _, e := range evs {
		got[e.Resource] = e
	}
	if e := got["https://example.com/ev-a"]; e == nil || e.Status != "valid" || e.ID != ev.ID {
		t.Errorf("recorded event of ev-a: %+v; want valid, ID %d", e, ev.ID)
	}
	if e := got["https://example.com/ev-b"]; e == nil || e.Status != "invalid" || e.Message != "held: 60" {
		t.Errorf("recorded event of ev-b: %+v; want invalid, held: 60", e)
	}
}

// testReserveEventOutcomes: a nil event records nothing, and the event of
// a Reserve refused for a taken key says so.
func testReserveEventOutcomes(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	r := reservation(key("eo-a"), 10, 100, time.Time{})
	r.Event = func(ledger.ReserveResult) *ledger.Event { return nil }
	reserve(t, s, r, reserved)
	r2 := reservation(key("eo-a"), 20, 100, time.Time{})
	last := withEvent(r2)
	reserve(t, s, r2, taken)
	evs, err := s.Events(ctx, ledger.EventFilter{Kind: ledger.EventVerify, Payer: r.Key.Payer})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if len(evs) != 1 || evs[0].ID != (*last).ID || evs[0].Status != "invalid" {
		t.Fatalf("Events: %+v; want only the refused one", evs)
	}
}

// testReserveHeldAfterExpiry: what a payer holds follows its
// reservations through expiry, settlement and release, many times over
// (a store keeping a running total must keep it right).
func testReserveHeldAfterExpiry(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	soon := time.Now().Add(300 * time.Millisecond)
	for i := range 5 {
		reserve(t, s, reservation(key("hx-"+string(rune('a'+i))), 10, 1000, soon), reserved)
	}
	reserve(t, s, reservation(key("hx-long"), 7, 1000, time.Time{}), ledger.ReserveResult{Reserved: true, Held: big.NewInt(50)})
	time.Sleep(time.Until(soon) + 50*time.Millisecond)
	reserve(t, s, reservation(key("hx-x"), 1, 1000, time.Time{}), ledger.ReserveResult{Reserved: true, Held: big.NewInt(7)})
	reserve(t, s, reservation(key("hx-y"), 1, 1000, time.Time{}), ledger.ReserveResult{Reserved: true, Held: big.NewInt(8)})
	if _, err := s.PurgeReservations(ctx, time.Now()); err != nil {
		t.Fatalf("PurgeReservations: %v", err)
	}
	reserve(t, s, reservation(key("hx-z"), 1000, 1000, time.Time{}), short(9))
	c := newSettlement(key("hx-long"))
	c.Amount = "7"
	claim(t, s, c)
	if err := s.Release(ctx, c.Key, "", c.ClaimID); err != nil {
		t.Fatalf("Release: %v", err)
	}
	reserve(t, s, reservation(key("hx-z"), 1000, 1000, time.Time{}), short(2))
	reserve(t, s, reservation(key("hx-z"), 998, 1000, time.Time{}), ledger.ReserveResult{Reserved: true, Held: big.NewInt(2)})
}
