package ledgertest

import (
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/x402"
)

// reservation returns a reservation of amount for k against balance,
// expiring in an hour (or at expires, if not zero).
func reservation(k x402.SettlementKey, amount, balance int64, expires time.Time) *ledger.Reservation {
	if expires.IsZero() {
		expires = time.Now().Add(time.Hour)
	}
	return &ledger.Reservation{Key: k, Amount: big.NewInt(amount), Balance: big.NewInt(balance), Expires: expires}
}

// reserve calls Reserve and checks its outcome against want (Held
// included when want.Held is not nil).
func reserve(t *testing.T, s ledger.Store, r *ledger.Reservation, want ledger.ReserveResult) {
	t.Helper()
	got, err := s.Reserve(testContext(t), r)
	if err != nil {
		t.Fatalf("Reserve(%s, %s of %s): %v", r.Key.Nonce, r.Amount, r.Balance, err)
	}
	if got.Reserved != want.Reserved || got.Taken != want.Taken || got.Settlement != want.Settlement ||
		(want.Held != nil && (got.Held == nil || got.Held.Cmp(want.Held) != 0)) {
		t.Fatalf("Reserve(%s, %s of %s) = %+v; want %+v", r.Key.Nonce, r.Amount, r.Balance, got, want)
	}
}

var (
	reserved = ledger.ReserveResult{Reserved: true}
	taken    = ledger.ReserveResult{Taken: true}
)

func short(held int64) ledger.ReserveResult { return ledger.ReserveResult{Held: big.NewInt(held)} }

func testReserveHolds(t *testing.T, s ledger.Store) {
	reserve(t, s, reservation(key("r-a"), 60, 100, time.Time{}), ledger.ReserveResult{Reserved: true, Held: big.NewInt(0)})
	reserve(t, s, reservation(key("r-b"), 60, 100, time.Time{}), short(60))
	reserve(t, s, reservation(key("r-c"), 40, 100, time.Time{}), ledger.ReserveResult{Reserved: true, Held: big.NewInt(60)})
	reserve(t, s, reservation(key("r-d"), 1, 100, time.Time{}), short(100))
	// Another payer, asset or network is not held.
	other := key("r-a")
	other.Payer = "0x0000000000000000000000000000000000000001"
	reserve(t, s, reservation(other, 100, 100, time.Time{}), reserved)
	other = key("r-a")
	other.Asset = "0x0000000000000000000000000000000000000002"
	reserve(t, s, reservation(other, 100, 100, time.Time{}), reserved)
	// uint256 amounts add up.
	big1 := key("r-max")
	big1.Payer = "0x0000000000000000000000000000000000000003"
	maxv, _ := new(big.Int).SetString(MaxAmount, 10)
	r := &ledger.Reservation{Key: big1, Amount: maxv, Balance: maxv, Expires: time.Now().Add(time.Hour)}
	reserve(t, s, r, reserved)
	big2 := big1
	big2.Nonce = "r-max-2"
	reserve(t, s, &ledger.Reservation{Key: big2, Amount: big.NewInt(1), Balance: maxv, Expires: r.Expires},
		ledger.ReserveResult{Held: maxv})
}

func testReserveTaken(t *testing.T, s ledger.Store) {
	reserve(t, s, reservation(key("t-a"), 10, 100, time.Time{}), reserved)
	// The same authorization again: held already, not counted twice.
	reserve(t, s, reservation(key("t-a"), 10, 10, time.Time{}), ledger.ReserveResult{Reserved: true, Taken: true})
	reserve(t, s, reservation(key("t-b"), 90, 100, time.Time{}), reserved)
	// Verified again for less: still held for the first amount.
	reserve(t, s, reservation(key("t-a"), 5, 100, time.Time{}), ledger.ReserveResult{Reserved: true, Taken: true})
	reserve(t, s, reservation(key("t-c"), 1, 100, time.Time{}), short(100))
	// The same key for more than was held: refused, whatever the balance.
	reserve(t, s, reservation(key("t-a"), 11, 1000, time.Time{}), taken)
}

func testReserveSettlement(t *testing.T, s ledger.Store) {
	st := newSettlement(key("s-a"))
	st.Amount = "10"
	claim(t, s, st)
	reserve(t, s, reservation(st.Key, 10, 100, time.Time{}), ledger.ReserveResult{Settlement: ledger.StatusSettling})
	mustUpdate(t, s, st.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: "0x01"})
	reserve(t, s, reservation(st.Key, 10, 100, time.Time{}), ledger.ReserveResult{Settlement: ledger.StatusPending})
	mustUpdate(t, s, st.Key, ledger.Update{From: ledger.StatusPending, Status: ledger.StatusSettled})
	reserve(t, s, reservation(st.Key, 10, 100, time.Time{}), ledger.ReserveResult{Settlement: ledger.StatusSettled})

	// A reverted settlement leaves the authorization to the chain.
	f := newSettlement(key("s-f"))
	f.Amount = "10"
	claim(t, s, f)
	mustUpdate(t, s, f.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusFailed, TxHash: "0x02"})
	reserve(t, s, reservation(f.Key, 10, 100, time.Time{}), reserved)
}

func testReserveUnfinishedHolds(t *testing.T, s ledger.Store) {
	// A settlement under way without a reservation (settle without
	// verify) holds its amount; one with a reservation is not counted
	// twice.
	st := newSettlement(key("u-a"))
	st.Amount = "60"
	claim(t, s, st)
	reserve(t, s, reservation(key("u-b"), 50, 100, time.Time{}), short(60))
	reserve(t, s, reservation(key("u-c"), 40, 100, time.Time{}), reserved)
	c := newSettlement(key("u-c"))
	c.Amount = "40"
	claim(t, s, c)
	reserve(t, s, reservation(key("u-d"), 1, 100, time.Time{}), short(100))
}

func testReserveEnds(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	// Settled: the reservation goes with it.
	a := newSettlement(key("e-a"))
	a.Amount = "100"
	reserve(t, s, reservation(a.Key, 100, 100, time.Time{}), reserved)
	claim(t, s, a)
	reserve(t, s, reservation(key("e-x"), 100, 100, time.Time{}), short(100))
	mustUpdate(t, s, a.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusSettled, TxHash: "0x03"})
	reserve(t, s, reservation(key("e-b"), 100, 100, time.Time{}), reserved)

	// Released: the reservation goes too.
	b := newSettlement(key("e-b"))
	b.Amount = "100"
	claim(t, s, b)
	if err := s.Release(ctx, b.Key, "", b.ClaimID); err != nil {
		t.Fatalf("Release: %v", err)
	}
	reserve(t, s, reservation(key("e-c"), 100, 100, time.Time{}), reserved)

	// A failed release (wrong claim) keeps it.
	c := newSettlement(key("e-c"))
	c.Amount = "100"
	claim(t, s, c)
	if err := s.Release(ctx, c.Key, "", "another claim"); err == nil {
		t.Fatal("Release of another claim succeeded")
	}
	mustUpdate(t, s, c.Key, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending, TxHash: "0x04"})
	reserve(t, s, reservation(key("e-d"), 1, 100, time.Time{}), short(100))
	// Failed: gone.
	mustUpdate(t, s, c.Key, ledger.Update{From: ledger.StatusPending, Status: ledger.StatusFailed})
	reserve(t, s, reservation(key("e-d"), 100, 100, time.Time{}), reserved)
}

func testReserveExpiry(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	past := time.Now().Add(-time.Minute)
	// An expired authorization holds nothing.
	reserve(t, s, reservation(key("x-a"), 100, 100, past), reserved)
	reserve(t, s, reservation(key("x-b"), 100, 100, past), reserved)
	// Another payer's, which no Reserve of its own removes.
	other := key("x-d")
	other.Payer = "0x00000000000000000000000000000000000000d0"
	reserve(t, s, reservation(other, 100, 100, past), reserved)
	// Its key may be reserved again (the row is replaced).
	reserve(t, s, reservation(key("x-a"), 100, 100, time.Time{}), reserved)
	reserve(t, s, reservation(key("x-c"), 1, 100, time.Time{}), short(100))

	// A store may already have removed the payer's own expired
	// reservations (x-b); the other payer's is left to the purge.
	n, err := s.PurgeReservations(ctx, time.Now())
	if err != nil {
		t.Fatalf("PurgeReservations: %v", err)
	}
	if n < 1 || n > 2 {
		t.Errorf("PurgeReservations deleted %d, want 1 or 2 (x-d, and x-b unless removed already)", n)
	}
	reserve(t, s, reservation(other, 100, 100, time.Time{}), ledger.ReserveResult{Reserved: true, Held: big.NewInt(0)})
	reserve(t, s, reservation(key("x-a"), 100, 100, time.Time{}), ledger.ReserveResult{Reserved: true, Taken: true})
}

func testReserveInvalid(t *testing.T, s ledger.Store) {
	ctx := testContext(t)
	for _, r := range []*ledger.Reservation{
		nil,
		{Key: key("i"), Amount: big.NewInt(0), Balance: big.NewInt(1), Expires: time.Now()},
		{Key: key("i"), Amount: big.NewInt(1), Expires: time.Now()},
		{Key: key("i"), Amount: big.NewInt(1), Balance: big.NewInt(1)},
		{Key: x402.SettlementKey{}, Amount: big.NewInt(1), Balance: big.NewInt(1), Expires: time.Now()},
	} {
		if _, err := s.Reserve(ctx, r); err == nil {
			t.Errorf("Reserve(%+v) succeeded", r)
		}
	}
}

func testReserveConcurrent(t *testing.T, s ledger.Store) {
	ReserveRace(t, []ledger.Store{s}, 50)
}

// ReserveRace reserves n distinct authorizations of one payer, each for
// the payer's whole balance, from n goroutines spread over stores (which
// may be separate handles on one database, standing in for separate
// processes), and checks that exactly one succeeds.
func ReserveRace(t *testing.T, stores []ledger.Store, n int) {
	t.Helper()
	ctx := testContext(t)
	ok := make([]bool, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			k := key(fmt.Sprintf("race-%d", i))
			k.Payer = "0x00000000000000000000000000000000000000ac" // not ClaimRace's
			r := reservation(k, 1000, 1000, time.Time{})
			start.Wait()
			res, err := stores[i%len(stores)].Reserve(ctx, r)
			if err != nil {
				t.Errorf("Reserve %d: %v", i, err)
			}
			ok[i] = res.Reserved
		})
	}
	start.Done()
	wg.Wait()
	won := 0
	for _, o := range ok {
		if o {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d of %d reservations of the whole balance succeeded; want exactly 1", won, n)
	}
}
