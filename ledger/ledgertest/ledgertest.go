// Package ledgertest is the conformance suite for [ledger.Store]
// implementations: every store (ledger/sqlite, ledger/postgres, and any
// other) runs [Run], and [RunPersistence] when it is durable, so that they
// all keep the same promises, above all that an authorization is claimed at
// most once. [ClaimRace] runs that check across several stores sharing one
// database, standing in for several facilitator processes.
//
// Besides the [ledger.Store] contract, the suite expects what the stores of
// this module document: times are kept to at least the microsecond; Claim
// ignores the Status and times of the settlement it is given; a Claim,
// Update or Release on a key that is not there reports an error wrapping
// [ledger.ErrNotFound]; UpdatedAt advances on every update; a response
// comes back field for field and byte for byte (extensions included);
// Record sets the event's ID, and its Time when zero; concurrent Records
// (which a store may write in one transaction) each store their event
// exactly once, and a store's times follow the order in which one caller
// recorded its events; Reserve compares expiry with the store's clock;
// [ReserveRace] runs the reservation check across several stores.
package ledgertest

import (
	"testing"
	"time"

	"github.com/go402/go402/ledger"
)

// MaxAmount is 2²⁵⁶-1, the largest amount: 78 decimal digits.
const MaxAmount = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

// testTimeout bounds every test, so that a store that hangs fails instead.
const testTimeout = 30 * time.Second

// Run runs the conformance suite as subtests of t. open must return a new,
// empty store each time it is called, and may register cleanups with the
// t it is given (dropping a database, say): the suite closes each store it
// opens before those run. The subtests run in parallel, so open must be
// safe for concurrent use.
func Run(t *testing.T, open func(t *testing.T) ledger.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s ledger.Store)
	}{
		{"ClaimCreates", testClaimCreates},
		{"ClaimExisting", testClaimExisting},
		{"ClaimConcurrent", testClaimConcurrent},
		{"DistinctKeys", testDistinctKeys},
		{"GetNotFound", testGetNotFound},
		{"UpdateCompareAndSet", testUpdateCompareAndSet},
		{"UpdateKeepsValues", testUpdateKeepsValues},
		{"UpdateResponseRoundTrip", testUpdateResponseRoundTrip},
		{"UpdateAdvancesUpdatedAt", testUpdateAdvancesUpdatedAt},
		{"UpdateRejectsUnknownStatus", testUpdateRejectsUnknownStatus},
		{"Release", testRelease},
		{"ReleaseConflict", testReleaseConflict},
		{"ClaimIDConditions", testClaimIDConditions},
		{"Unfinished", testUnfinished},
		{"Events", testEvents},
		{"EventsFilter", testEventsFilter},
		{"EventsDefaultLimit", testEventsDefaultLimit},
		{"RecordConcurrent", testRecordConcurrent},
		{"CancelledContext", testCancelledContext},
		{"ReserveHolds", testReserveHolds},
		{"ReserveTaken", testReserveTaken},
		{"ReserveSettlement", testReserveSettlement},
		{"ReserveUnfinishedHolds", testReserveUnfinishedHolds},
		{"ReserveEnds", testReserveEnds},
		{"ReserveExpiry", testReserveExpiry},
		{"ReserveInvalid", testReserveInvalid},
		{"ReserveEvent", testReserveEvent},
		{"ReserveEventRefusedOutcome", testReserveEventOutcomes},
		{"ReserveHeldAfterExpiry", testReserveHeldAfterExpiry},
		{"ReserveConcurrent", testReserveConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// RunPersistence checks that what a store wrote survives closing it: it
// writes through the store open returns, closes that store, and reads
// through the one reopen returns, which must be a new store on the same
// database. The suite closes both stores.
func RunPersistence(t *testing.T, open, reopen func(t *testing.T) ledger.Store) {
	t.Helper()
	ctx := testContext(t)
	s := open(t)

	done := newSettlement(key("persist-1"))
	claim(t, s, done)
	resp := fullResponse()
	mustUpdate(t, s, done.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: resp.Transaction})
	mustUpdate(t, s, done.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettled, Response: resp})
	open2 := newSettlement(key("persist-2"))
	claim(t, s, open2)
	events := []*ledger.Event{newEvent(0, ledger.EventVerify, "0xpayer-a"), newEvent(1, ledger.EventSettle, "0xpayer-b")}
	for _, e := range events {
		if err := s.Record(ctx, e); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	before1 := get(t, s, done.Key)
	before2 := get(t, s, open2.Key)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = reopen(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	after1 := get(t, s, done.Key)
	checkSettlement(t, after1, before1)
	checkTimes(t, after1, before1)
	if after1.Status != ledger.StatusSettled || after1.TxHash != resp.Transaction {
		t.Errorf("after reopening: status %q, tx %q; want settled, %q", after1.Status, after1.TxHash, resp.Transaction)
	}
	checkSettlement(t, get(t, s, open2.Key), before2)

	un, err := s.Unfinished(ctx)
	if err != nil {
		t.Fatalf("Unfinished: %v", err)
	}
	if len(un) != 1 || un[0].Key != open2.Key {
		t.Errorf("Unfinished after reopening: got %d settlements, want only %v", len(un), open2.Key)
	}
	got, err := s.Events(ctx, ledger.EventFilter{})
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("Events after reopening: got %d events, want 2", len(got))
	}
	checkEvent(t, got[0], events[1])
	checkEvent(t, got[1], events[0])

	// The key is still taken.
	again := newSettlement(done.Key)
	existing, claimed, err := s.Claim(ctx, again)
	if err != nil || claimed || existing == nil {
		t.Fatalf("Claim after reopening: claimed %v, existing %v, err %v; want the existing settlement", claimed, existing != nil, err)
	}
	if existing.Status != ledger.StatusSettled {
		t.Errorf("Claim after reopening: existing status %q, want settled", existing.Status)
	}
}
