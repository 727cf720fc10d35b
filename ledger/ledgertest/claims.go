package ledgertest

import (
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
