package sqlite

import (
	"math/big"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
)

// holdsRow is the payer's running total, "" if it has none.
func holdsRow(t *testing.T, s *Store, r *ledger.Reservation) string {
	t.Helper()
	var held string
	err := s.r.QueryRowContext(t.Context(), `SELECT held FROM reservation_holds WHERE network = ? AND asset = ? AND payer = ?`,
		string(r.Key.Network), r.Key.Asset, r.Key.Payer).Scan(&held)
	if err != nil {
		return ""
	}
	return held
}

// Reservations without a running total (made before migration 0004)
// are summed from their rows once, and the total kept from then on,
// through expiry, release and purge.
func TestHoldsRunningTotal(t *testing.T) {
	s := openPath(t, tempPath(t))
	closeStore(t, s)
	ctx := t.Context()
	res := func(nonce string, amount int64, expires time.Time) *ledger.Reservation {
		r := benchReservation(1)
		r.Key.Nonce, r.Amount, r.Balance, r.Expires = nonce, big.NewInt(amount), big.NewInt(1000), expires
		return r
	}
	check := func(r *ledger.Reservation, reserved bool, held int64, row string) {
		t.Helper()
		got, err := s.Reserve(ctx, r)
		if err != nil || got.Reserved != reserved || got.Held.Int64() != held {
			t.Fatalf("Reserve(%s, %s) = %+v, %v; want reserved %v, held %d", r.Key.Nonce, r.Amount, got, err, reserved, held)
		}
		if got := holdsRow(t, s, r); got != row {
			t.Fatalf("after Reserve(%s): running total %q; want %q", r.Key.Nonce, got, row)
		}
	}
	soon := time.Now().Add(200 * time.Millisecond)
	check(res("a", 100, time.Now().Add(time.Hour)), true, 0, "100")
	check(res("b", 200, soon), true, 100, "300")
	// As if a and b were reserved before the running totals existed.
	if _, err := s.w.ExecContext(ctx, `DELETE FROM reservation_holds`); err != nil {
		t.Fatal(err)
	}
	check(res("c", 1000, time.Now().Add(time.Hour)), false, 300, "300")
	time.Sleep(time.Until(soon) + 20*time.Millisecond)
	// b expired: removed, and subtracted, by the payer's next Reserve.
	check(res("d", 50, time.Now().Add(time.Hour)), true, 100, "150")
	check(res("e", 1000, time.Now().Add(time.Hour)), false, 150, "150")
	if n, err := s.PurgeReservations(ctx, time.Now().Add(2*time.Hour)); err != nil || n != 2 {
		t.Fatalf("PurgeReservations = %d, %v; want 2", n, err)
	}
	check(res("e", 1000, time.Now().Add(time.Hour)), true, 0, "1000")
}
