package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/internal/reserve"
	"github.com/go402/go402/x402"
)

// reserveOp is one Reserve call waiting for its batch.
type reserveOp struct {
	r   *ledger.Reservation
	res ledger.ReserveResult
}

// Reserve holds r.Amount of the payer's funds for r.Key if they are free;
// see [ledger.Store.Reserve]. The check and the insert run in a write
// transaction (BEGIN IMMEDIATE), which SQLite's write lock makes atomic
// across every connection and process on the file. Like events, the
// Reserves of concurrent calls are evaluated one after the other in one
// transaction (group commit), so that a verify's reservation costs a share
// of one fsync.
func (s *Store) Reserve(ctx context.Context, r *ledger.Reservation) (ledger.ReserveResult, error) {
	if err := reserve.Check(r); err != nil {
		return ledger.ReserveResult{}, fmt.Errorf("ledger/sqlite: reserve: %w", err)
	}
	op := &reserveOp{r: r}
	if err := s.reserves.Do(ctx, op); err != nil {
		return ledger.ReserveResult{}, fail(ctx, "reserve", err)
	}
	return op.res, nil
}

// writeReserves decides and writes a batch of reservations in one
// transaction, in order: each sees the ones before it.
func (s *Store) writeReserves(ctx context.Context, ops []*reserveOp) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		now := micros(time.Now())
		for _, op := range ops {
			res, err := reserveTx(ctx, tx, op.r, now)
			if err != nil {
				return err
			}
			op.res = res
		}
		return nil
	})
}

const wherePayer = ` WHERE network = ? AND asset = ? AND payer = ?`

// reserveTx decides one reservation inside a write transaction, and
// inserts it if it fits.
func reserveTx(ctx context.Context, tx *sql.Tx, r *ledger.Reservation, now int64) (ledger.ReserveResult, error) {
	k := r.Key
	t := reserve.New(r)
	rows, err := tx.QueryContext(ctx, `SELECT nonce, amount FROM reservations`+wherePayer+` AND expires_at > ?`,
		string(k.Network), k.Asset, k.Payer, now)
	if err != nil {
		return ledger.ReserveResult{}, err
	}
	if err := scanPairs(rows, func(nonce, amount string) { t.Reservation(nonce, amount) }); err != nil {
		return ledger.ReserveResult{}, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT nonce, status || ' ' || amount FROM settlements`+wherePayer+`
		AND (nonce = ? OR status IN ('settling', 'pending'))`, string(k.Network), k.Asset, k.Payer, k.Nonce)
	if err != nil {
		return ledger.ReserveResult{}, err
	}
	if err := scanPairs(rows, func(nonce, v string) {
		status, amount, _ := strings.Cut(v, " ")
		t.Settlement(nonce, ledger.Status(status), amount)
	}); err != nil {
		return ledger.ReserveResult{}, err
	}
	res := t.Result()
	if !res.Reserved {
		return res, nil
	}
	// A row still there for the key is an expired reservation: replace it.
	_, err = tx.ExecContext(ctx, `INSERT INTO reservations (network, asset, payer, nonce, amount, balance, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (network, asset, payer, nonce) DO UPDATE SET amount = excluded.amount,
			balance = excluded.balance, expires_at = excluded.expires_at, created_at = excluded.created_at`,
		string(k.Network), k.Asset, k.Payer, k.Nonce, r.Amount.String(), r.Balance.String(), micros(r.Expires), now)
	return res, err
}

// scanPairs reads rows of two text columns, closing rows.
func scanPairs(rows *sql.Rows, fn func(a, b string)) error {
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		fn(a, b)
	}
	return rows.Err()
}

// deleteReservation deletes the reservation of key, inside a write
// transaction that ended its settlement.
func deleteReservation(ctx context.Context, tx *sql.Tx, key x402.SettlementKey) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM reservations`+whereKey, keyArgs(key)...)
	return err
}

// PurgeReservations deletes the reservations that expired before t; see
// [ledger.Store.PurgeReservations].
func (s *Store) PurgeReservations(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM reservations WHERE expires_at <= ?`, micros(t))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fail(ctx, "purge reservations", err)
	}
	return n, nil
}
