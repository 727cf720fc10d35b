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
// recorded its events.
package ledgertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
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

func testClaimCreates(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	in := newSettlement(key("create"))
	in.Status = ledger.StatusSettled // ignored: a claim always starts as settling
	in.CreatedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	want := *in
	start := time.Now()
	existing, claimed, err := s.Claim(ctx, in)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if !claimed || existing != nil {
		t.Fatalf("Claim of a new key: claimed %v, existing %v; want true, nil", claimed, existing)
	}
	got := get(t, s, in.Key)
	want.Status = ledger.StatusSettling
	checkSettlement(t, got, &want)
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Fatalf("CreatedAt %v, UpdatedAt %v: want both set", got.CreatedAt, got.UpdatedAt)
	}
	// The database's clock may differ a little from this one.
	if d := got.CreatedAt.Sub(start); d < -time.Minute || d > time.Minute {
		t.Errorf("CreatedAt %v is %v away from the time of the claim", got.CreatedAt, d)
	}
	if got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("UpdatedAt %v is before CreatedAt %v", got.UpdatedAt, got.CreatedAt)
	}
}

func testClaimExisting(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	first := newSettlement(key("existing"))
	claim(t, s, first)
	stored := get(t, s, first.Key)

	second := newSettlement(first.Key)
	second.Fingerprint = "another payment"
	second.Owner = "facilitator-b"
	second.ClaimID = "another claim"
	second.Amount = "1"
	existing, claimed, err := s.Claim(ctx, second)
	if err != nil {
		t.Fatalf("second Claim: %v", err)
	}
	if claimed {
		t.Fatal("second Claim of one key: claimed = true; want false")
	}
	if existing == nil {
		t.Fatal("second Claim of one key returned no existing settlement")
	}
	checkSettlement(t, existing, stored)
	checkTimes(t, existing, stored)

	// The losing claim changed nothing.
	checkSettlement(t, get(t, s, first.Key), stored)

	// Nor does a claim of a key that moved on.
	mustUpdate(t, s, first.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: "0xfeed"})
	existing, claimed, err = s.Claim(ctx, newSettlement(first.Key))
	if err != nil || claimed {
		t.Fatalf("Claim of a pending key: claimed %v, err %v; want false, nil", claimed, err)
	}
	if existing.Status != ledger.StatusPending || existing.TxHash != "0xfeed" {
		t.Errorf("existing: status %q, tx %q; want pending, 0xfeed", existing.Status, existing.TxHash)
	}
}

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

func testDistinctKeys(t *testing.T, s ledger.Store) {
	base := key("distinct")
	keys := []x402.SettlementKey{base}
	variant := func(f func(k *x402.SettlementKey)) {
		k := base
		f(&k)
		keys = append(keys, k)
	}
	variant(func(k *x402.SettlementKey) { k.Network = "eip155:1" })
	variant(func(k *x402.SettlementKey) { k.Asset = "0xother-asset" })
	variant(func(k *x402.SettlementKey) { k.Payer = "0xother-payer" })
	variant(func(k *x402.SettlementKey) { k.Nonce = "0xother-nonce" })
	// Keys are compared byte for byte: normalising them (EVM addresses to
	// lower case, say) is the scheme's job, and other chains' addresses
	// are case-sensitive.
	variant(func(k *x402.SettlementKey) { k.Payer = "0x" + strings.ToUpper(base.Payer[2:]) })
	// Fields do not run into each other.
	keys = append(keys,
		x402.SettlementKey{Network: "n", Asset: "ab", Payer: "c", Nonce: "d"},
		x402.SettlementKey{Network: "n", Asset: "a", Payer: "bc", Nonce: "d"},
	)
	for i, k := range keys {
		st := newSettlement(k)
		st.Owner = fmt.Sprint(i)
		claim(t, s, st)
	}
	for i, k := range keys {
		if got := get(t, s, k); got.Key != k || got.Owner != fmt.Sprint(i) {
			t.Errorf("Get(%v): key %v, owner %q; want its own settlement %d", k, got.Key, got.Owner, i)
		}
	}
}

func testGetNotFound(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	k := key("missing")
	if _, err := s.Get(ctx, k); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Get of a missing key: %v; want ErrNotFound", err)
	}
	claim(t, s, newSettlement(key("present")))
	if _, err := s.Get(ctx, k); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Get of a missing key: %v; want ErrNotFound", err)
	}
}

func testUpdateCompareAndSet(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	st := newSettlement(key("cas"))
	claim(t, s, st)

	err := s.Update(ctx, st.Key, ledger.Update{From: ledger.StatusPending, Status: ledger.StatusSettled, TxHash: "0x1"})
	if !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("Update from the wrong status: %v; want ErrConflict", err)
	}
	if got := get(t, s, st.Key); got.Status != ledger.StatusSettling || got.TxHash != "" {
		t.Fatalf("after a failed Update: status %q, tx %q; want it unchanged", got.Status, got.TxHash)
	}

	err = s.Update(ctx, key("nobody"), ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending})
	if !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("Update of a missing key: %v; want ErrNotFound", err)
	}

	steps := []ledger.Update{
		{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: "0xaa"},
		{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: "0xbb"},
		{From: ledger.StatusPending, Status: ledger.StatusSettled},
	}
	for _, u := range steps {
		mustUpdate(t, s, st.Key, u)
	}
	got := get(t, s, st.Key)
	if got.Status != ledger.StatusSettled || got.TxHash != "0xbb" {
		t.Errorf("after settling: status %q, tx %q; want settled, 0xbb", got.Status, got.TxHash)
	}
	// A final state cannot be left by a stale update.
	for _, from := range []ledger.Status{ledger.StatusSettling, ledger.StatusPending, ledger.StatusFailed} {
		err := s.Update(ctx, st.Key, ledger.Update{From: from, Status: ledger.StatusFailed})
		if !errors.Is(err, ledger.ErrConflict) {
			t.Errorf("Update from %s of a settled settlement: %v; want ErrConflict", from, err)
		}
	}

	// Concurrent transitions from one state: exactly one wins.
	race := newSettlement(key("cas-race"))
	claim(t, s, race)
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Update(ctx, race.Key, ledger.Update{
				From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: fmt.Sprintf("0x%02d", i),
			})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Errorf("updates %d and %d both moved the settlement out of settling", won, i)
			}
			won = i
		case !errors.Is(err, ledger.ErrConflict):
			t.Errorf("update %d: %v; want nil or ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no concurrent update succeeded")
	}
	if got := get(t, s, race.Key); got.TxHash != fmt.Sprintf("0x%02d", won) {
		t.Errorf("tx %q; want the winner's 0x%02d", got.TxHash, won)
	}
}

func testUpdateKeepsValues(t *testing.T, s ledger.Store) {
	st := newSettlement(key("keep"))
	claim(t, s, st)
	resp := fullResponse()
	mustUpdate(t, s, st.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: "0xabc", Response: resp})
	// "" and nil keep what is there.
	mustUpdate(t, s, st.Key, ledger.Update{From: ledger.StatusPending, Status: ledger.StatusSettled})
	got := get(t, s, st.Key)
	if got.TxHash != "0xabc" {
		t.Errorf("TxHash %q after an update without one; want 0xabc kept", got.TxHash)
	}
	if !reflect.DeepEqual(got.Response, resp) {
		t.Errorf("Response after an update without one:\n got %s\nwant %s", jsonOf(got.Response), jsonOf(resp))
	}
	want := *st
	want.Status, want.TxHash, want.Response = ledger.StatusSettled, "0xabc", resp
	checkSettlement(t, got, &want)
}

func testUpdateResponseRoundTrip(t *testing.T, s ledger.Store) {
	st := newSettlement(key("response"))
	claim(t, s, st)

	pending := &x402.SettleResponse{
		Success:      false,
		ErrorReason:  x402.ReasonSettlementPending,
		ErrorMessage: "transaction 0x01 not mined yet: \"quoted\", ünïcode, \\ and\nnewline",
		Transaction:  "0x01",
		Network:      "eip155:84532",
		Payer:        "0xPayer",
	}
	mustUpdate(t, s, st.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: "0x01", Response: pending})
	if got := get(t, s, st.Key); !reflect.DeepEqual(got.Response, pending) {
		t.Errorf("pending Response:\n got %s\nwant %s", jsonOf(got.Response), jsonOf(pending))
	}

	final := fullResponse()
	mustUpdate(t, s, st.Key, ledger.Update{From: ledger.StatusPending, Status: ledger.StatusFailed, TxHash: final.Transaction, Response: final})
	got := get(t, s, st.Key)
	if !reflect.DeepEqual(got.Response, final) {
		t.Errorf("final Response:\n got %s\nwant %s", jsonOf(got.Response), jsonOf(final))
	}
	if a, b := jsonOf(got.Response), jsonOf(final); a != b {
		t.Errorf("final Response encodes as\n%s\nwant\n%s", a, b)
	}
	if got.Status != ledger.StatusFailed || got.TxHash != final.Transaction {
		t.Errorf("status %q, tx %q; want failed, %q", got.Status, got.TxHash, final.Transaction)
	}
}

func testUpdateAdvancesUpdatedAt(t *testing.T, s ledger.Store) {
	st := newSettlement(key("updated-at"))
	claim(t, s, st)
	prev := get(t, s, st.Key)
	steps := []ledger.Update{
		{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: "0x1"},
		{From: ledger.StatusSettling, Status: ledger.StatusSettling},
		{From: ledger.StatusSettling, Status: ledger.StatusPending},
		{From: ledger.StatusPending, Status: ledger.StatusSettled},
	}
	for _, u := range steps {
		mustUpdate(t, s, st.Key, u)
		got := get(t, s, st.Key)
		if !got.UpdatedAt.After(prev.UpdatedAt) {
			t.Errorf("Update %s→%s: UpdatedAt %v did not advance from %v", u.From, u.Status, got.UpdatedAt, prev.UpdatedAt)
		}
		if !got.CreatedAt.Equal(prev.CreatedAt) {
			t.Errorf("Update %s→%s changed CreatedAt from %v to %v", u.From, u.Status, prev.CreatedAt, got.CreatedAt)
		}
		prev = got
	}
}

func testUpdateRejectsUnknownStatus(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	st := newSettlement(key("bad-status"))
	claim(t, s, st)
	if err := s.Update(ctx, st.Key, ledger.Update{From: ledger.StatusSettling, Status: "bogus"}); err == nil {
		t.Error("Update to an unknown status succeeded")
	}
	if got := get(t, s, st.Key); got.Status != ledger.StatusSettling {
		t.Errorf("status %q after a rejected update; want settling", got.Status)
	}
}

func testRelease(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	st := newSettlement(key("release"))
	claim(t, s, st)
	if err := s.Release(ctx, st.Key, "", ""); err != nil {
		t.Fatalf("Release of a fresh claim: %v", err)
	}
	if _, err := s.Get(ctx, st.Key); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("Get after Release: %v; want ErrNotFound", err)
	}
	if err := s.Release(ctx, st.Key, "", ""); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("second Release: %v; want ErrNotFound", err)
	}
	// Released, the key can be claimed again.
	again := newSettlement(st.Key)
	again.Owner = "second"
	claim(t, s, again)
	if got := get(t, s, st.Key); got.Owner != "second" || got.Status != ledger.StatusSettling {
		t.Errorf("after claiming again: owner %q, status %q; want second, settling", got.Owner, got.Status)
	}
}

func testReleaseConflict(t *testing.T, s ledger.Store) {
	ctx := testContext(t)

	// A transaction hash was recorded: it may have been broadcast.
	withTx := newSettlement(key("release-tx"))
	claim(t, s, withTx)
	mustUpdate(t, s, withTx.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: "0xbroadcast"})
	for _, tx := range []string{"", "0xother"} {
		if err := s.Release(ctx, withTx.Key, tx, ""); !errors.Is(err, ledger.ErrConflict) {
			t.Errorf("Release naming tx %q after 0xbroadcast was recorded: %v; want ErrConflict", tx, err)
		}
	}
	if got := get(t, s, withTx.Key); got.TxHash != "0xbroadcast" {
		t.Errorf("settlement changed by a refused Release: tx %q", got.TxHash)
	}
	// Naming the recorded transaction (established as never mined) releases.
	if err := s.Release(ctx, withTx.Key, "0xbroadcast", ""); err != nil {
		t.Errorf("Release naming the recorded tx: %v", err)
	}
	claim(t, s, newSettlement(key("release-tx")))

	for _, status := range []ledger.Status{ledger.StatusPending, ledger.StatusSettled, ledger.StatusFailed} {
		st := newSettlement(key("release-" + string(status)))
		claim(t, s, st)
		mustUpdate(t, s, st.Key, ledger.Update{From: ledger.StatusSettling, Status: status})
		if err := s.Release(ctx, st.Key, "", ""); !errors.Is(err, ledger.ErrConflict) {
			t.Errorf("Release of a %s settlement: %v; want ErrConflict", status, err)
		}
		if got := get(t, s, st.Key); got.Status != status {
			t.Errorf("status %q after a refused Release; want %s", got.Status, status)
		}
	}

	if err := s.Release(ctx, key("never-claimed"), "", ""); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("Release of a missing key: %v; want ErrNotFound", err)
	}
}

// testClaimIDConditions: an Update or Release naming a claim id applies only
// to that claim, never to a claim made after it was released.
func testClaimIDConditions(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	first := newSettlement(key("claim-id"))
	first.ClaimID = "first"
	claim(t, s, first)
	if err := s.Release(ctx, first.Key, "", "first"); err != nil {
		t.Fatalf("Release of its own claim: %v", err)
	}
	second := newSettlement(first.Key)
	second.ClaimID = "second"
	claim(t, s, second)

	// The first claimant, unaware, tries to record a transaction and to
	// release: neither touches the second claim.
	err := s.Update(ctx, first.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: "0xfirst", ClaimID: "first"})
	if !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("Update naming a released claim: %v; want ErrConflict", err)
	}
	if err := s.Release(ctx, first.Key, "", "first"); !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("Release naming a released claim: %v; want ErrConflict", err)
	}
	if got := get(t, s, first.Key); got.ClaimID != "second" || got.TxHash != "" || got.Status != ledger.StatusSettling {
		t.Fatalf("second claim changed: claim %q, tx %q, status %q", got.ClaimID, got.TxHash, got.Status)
	}
	// Its own claim id, or none, applies.
	mustUpdate(t, s, first.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: "0xsecond", ClaimID: "second"})
	mustUpdate(t, s, first.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending})
	mustUpdate(t, s, first.Key, ledger.Update{From: ledger.StatusPending, Status: ledger.StatusSettling, ClaimID: "second"})
	if err := s.Release(ctx, first.Key, "0xsecond", "second"); err != nil {
		t.Errorf("Release of its own claim with its transaction: %v", err)
	}
}

func testUnfinished(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	if un, err := s.Unfinished(ctx); err != nil || len(un) != 0 {
		t.Fatalf("Unfinished of an empty store: %d settlements, %v; want none", len(un), err)
	}
	// Claimed in this order; the nonces sort in the same order, in case
	// two claims get the same time.
	plan := []struct {
		nonce string
		to    ledger.Status
		tx    string
	}{
		{"u01", ledger.StatusSettling, ""},
		{"u02", ledger.StatusPending, "0x02"},
		{"u03", ledger.StatusSettled, "0x03"},
		{"u04", ledger.StatusFailed, "0x04"},
		{"u05", ledger.StatusSettling, "0x05"},
		{"u06", ledger.StatusPending, "0x06"},
		{"u07", ledger.StatusSettled, "0x07"},
	}
	var want []x402.SettlementKey
	for _, p := range plan {
		st := newSettlement(key(p.nonce))
		claim(t, s, st)
		if p.to != ledger.StatusSettling || p.tx != "" {
			mustUpdate(t, s, st.Key, ledger.Update{From: ledger.StatusSettling, Status: p.to, TxHash: p.tx})
		}
		if !p.to.Final() {
			want = append(want, st.Key)
		}
	}
	// Updating the oldest does not move it.
	mustUpdate(t, s, key("u01"), ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettling, TxHash: "0x01"})

	un, err := s.Unfinished(ctx)
	if err != nil {
		t.Fatalf("Unfinished: %v", err)
	}
	var got []x402.SettlementKey
	for i, st := range un {
		got = append(got, st.Key)
		if st.Status.Final() {
			t.Errorf("Unfinished returned a %s settlement", st.Status)
		}
		if i > 0 && st.CreatedAt.Before(un[i-1].CreatedAt) {
			t.Errorf("Unfinished is not oldest first: %v before %v", un[i-1].CreatedAt, st.CreatedAt)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Unfinished keys:\n got %v\nwant %v", got, want)
	}
	if len(un) > 0 && (un[0].TxHash != "0x01" || un[0].Request == nil) {
		t.Errorf("Unfinished[0]: tx %q, request %q; want the full settlement", un[0].TxHash, un[0].Request)
	}
}

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

// testContext returns a context that ends with the test or after
// testTimeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// key returns a settlement key on a test network, told apart by nonce.
func key(nonce string) x402.SettlementKey {
	return x402.SettlementKey{
		Network: "eip155:84532",
		Asset:   "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
		Payer:   "0x857b06519e91e3a54538791bdbb0e22373e36b66",
		Nonce:   nonce,
	}
}

// newSettlement returns a settlement of k with every field set.
func newSettlement(k x402.SettlementKey) *ledger.Settlement {
	return &ledger.Settlement{
		Key:         k,
		Fingerprint: "fp:" + k.Nonce,
		Request:     []byte(`{"x402Version":2,"paymentPayload":{"scheme":"exact"},"nonce":"` + k.Nonce + `"}` + "\x00\xff"),
		Scheme:      "exact",
		Version:     2,
		PayTo:       "0x209693bc6afc0c5328ba36faf03c514ef312287c",
		Amount:      MaxAmount,
		Resource:    "https://api.example.com/premium?q=1&r=ü",
		Owner:       "facilitator-a",
		ClaimID:     "claim:" + k.Nonce,
	}
}

// fullResponse returns a settle response with every field set.
func fullResponse() *x402.SettleResponse {
	amt, err := x402.ParseAmount(MaxAmount)
	if err != nil {
		panic(err)
	}
	return &x402.SettleResponse{
		Success:      false,
		ErrorReason:  x402.ReasonExactEVMTransactionFailed,
		ErrorMessage: "execution reverted: FiatTokenV2: invalid signature",
		Transaction:  "0x8f2a4b6c1d3e5f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
		Network:      "eip155:84532",
		Payer:        "0x857b06519e91e3a54538791bdbb0e22373e36b66",
		Amount:       &amt,
		// Keys out of order: they must come back as they were.
		Extensions: x402.Object(`{"zeta":{"b":2,"a":[1,"x"]},"alpha":null}`),
	}
}

// newEvent returns event number i of a test, i seconds after a fixed time
// (to the microsecond), with every field set.
func newEvent(i int, kind ledger.EventKind, payer string) *ledger.Event {
	base := time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
	return &ledger.Event{
		Time:     base.Add(time.Duration(i) * time.Second),
		Kind:     kind,
		Version:  2,
		Scheme:   "exact",
		Network:  "eip155:84532",
		Asset:    "0x036cbd53842c5426634e7929541ec2318f3dcf7e",
		Payer:    payer,
		PayTo:    "0x209693bc6afc0c5328ba36faf03c514ef312287c",
		Amount:   MaxAmount,
		Resource: fmt.Sprintf("https://api.example.com/item/%d", i),
		TxHash:   fmt.Sprintf("0x%064x", i+1),
		Status:   "invalid",
		Reason:   x402.ReasonInsufficientFunds,
		Message:  fmt.Sprintf("event %d: balance too low ✓", i),
	}
}

func claim(t *testing.T, s ledger.Store, st *ledger.Settlement) {
	t.Helper()
	existing, claimed, err := s.Claim(testContext(t), st)
	if err != nil {
		t.Fatalf("Claim(%v): %v", st.Key, err)
	}
	if !claimed || existing != nil {
		t.Fatalf("Claim(%v): claimed %v, existing %v; want a new claim", st.Key, claimed, existing)
	}
}

func get(t *testing.T, s ledger.Store, k x402.SettlementKey) *ledger.Settlement {
	t.Helper()
	st, err := s.Get(testContext(t), k)
	if err != nil {
		t.Fatalf("Get(%v): %v", k, err)
	}
	return st
}

func mustUpdate(t *testing.T, s ledger.Store, k x402.SettlementKey, u ledger.Update) {
	t.Helper()
	if err := s.Update(testContext(t), k, u); err != nil {
		t.Fatalf("Update(%v, %s→%s): %v", k, u.From, u.Status, err)
	}
}

// checkSettlement compares everything but the times.
func checkSettlement(t *testing.T, got, want *ledger.Settlement) {
	t.Helper()
	if got.Key != want.Key {
		t.Errorf("Key: got %+v, want %+v", got.Key, want.Key)
	}
	if got.Fingerprint != want.Fingerprint {
		t.Errorf("Fingerprint: got %q, want %q", got.Fingerprint, want.Fingerprint)
	}
	if got.Status != want.Status {
		t.Errorf("Status: got %q, want %q", got.Status, want.Status)
	}
	if got.TxHash != want.TxHash {
		t.Errorf("TxHash: got %q, want %q", got.TxHash, want.TxHash)
	}
	if !reflect.DeepEqual(got.Response, want.Response) {
		t.Errorf("Response:\n got %s\nwant %s", jsonOf(got.Response), jsonOf(want.Response))
	}
	if !bytes.Equal(got.Request, want.Request) {
		t.Errorf("Request: got %q, want %q", got.Request, want.Request)
	}
	if got.Scheme != want.Scheme || got.Version != want.Version {
		t.Errorf("Scheme, Version: got %q, %d; want %q, %d", got.Scheme, got.Version, want.Scheme, want.Version)
	}
	if got.PayTo != want.PayTo || got.Amount != want.Amount || got.Resource != want.Resource {
		t.Errorf("PayTo, Amount, Resource: got %q, %q, %q; want %q, %q, %q",
			got.PayTo, got.Amount, got.Resource, want.PayTo, want.Amount, want.Resource)
	}
	if got.Owner != want.Owner || got.ClaimID != want.ClaimID {
		t.Errorf("Owner, ClaimID: got %q, %q; want %q, %q", got.Owner, got.ClaimID, want.Owner, want.ClaimID)
	}
}

func checkTimes(t *testing.T, got, want *ledger.Settlement) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("CreatedAt, UpdatedAt: got %v, %v; want %v, %v",
			got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
}

func checkEvent(t *testing.T, got, want *ledger.Event) {
	t.Helper()
	g, w := *got, *want
	if !g.Time.Equal(w.Time) {
		t.Errorf("event %d: Time %v, want %v", w.ID, g.Time, w.Time)
	}
	g.Time, w.Time = time.Time{}, time.Time{}
	if g != w {
		t.Errorf("event:\n got %+v\nwant %+v", g, w)
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}
