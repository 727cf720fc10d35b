package sqlite

import (
	"context"
	"database/sql"
	"fmt"
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
// across every connection and process on the file. The Reserves of
// concurrent calls are evaluated one after the other in one transaction,
// together with the events of concurrent Records (group commit), so that a
// verify's reservation and event cost a share of the same fsyncs.
func (s *Store) Reserve(ctx context.Context, r *ledger.Reservation) (ledger.ReserveResult, error) {
	if err := reserve.Check(r); err != nil {
		return ledger.ReserveResult{}, fmt.Errorf("ledger/sqlite: reserve: %w", err)
	}
	op := &reserveOp{r: r}
	if err := s.writes.Do(ctx, &write{rv: op}); err != nil {
		return ledger.ReserveResult{}, fail(ctx, "reserve", err)
	}
	return op.res, nil
}

// Statements of a reservation, prepared once per transaction.
const (
	// selectHolds reads the payer's unexpired reservations, then the
	// payer's settlements that are unfinished or have the key.
	selectHolds = `SELECT 0, nonce, '', amount FROM reservations
			WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND expires_at > ?5
		UNION ALL
		SELECT 1, nonce, status, amount FROM settlements
			WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND (nonce = ?4 OR status IN ('settling', 'pending'))
		ORDER BY 1`
	// insertReservation replaces a row still there for the key, which is
	// an expired reservation.
	insertReservation = `INSERT INTO reservations (network, asset, payer, nonce, amount, balance, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (network, asset, payer, nonce) DO UPDATE SET amount = excluded.amount,
			balance = excluded.balance, expires_at = excluded.expires_at, created_at = excluded.created_at`
)

// reserveStmts are the prepared statements of reservations in one write
// transaction.
type reserveStmts struct {
	holds, insert *sql.Stmt
}

func prepareReserve(ctx context.Context, tx *sql.Tx) (*reserveStmts, error) {
	holds, err := tx.PrepareContext(ctx, selectHolds)
	if err != nil {
		return nil, err
	}
	insert, err := tx.PrepareContext(ctx, insertReservation)
	if err != nil {
		holds.Close()
		return nil, err
	}
	return &reserveStmts{holds: holds, insert: insert}, nil
}

func (rs *reserveStmts) close() {
	if rs != nil {
		rs.holds.Close()
		rs.insert.Close()
	}
}

// reserveTx decides one reservation inside a write transaction, and
// inserts it if it fits.
func reserveTx(ctx context.Context, rs *reserveStmts, r *ledger.Reservation, now int64) (ledger.ReserveResult, error) {
	k := r.Key
	t := reserve.New(r)
	rows, err := rs.holds.QueryContext(ctx, string(k.Network), k.Asset, k.Payer, k.Nonce, now)
	if err != nil {
		return ledger.ReserveResult{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var nonce, status, amount string
		if err := rows.Scan(&kind, &nonce, &status, &amount); err != nil {
			return ledger.ReserveResult{}, err
		}
		if kind == 0 {
			t.Reservation(nonce, amount)
		} else {
			t.Settlement(nonce, ledger.Status(status), amount)
		}
	}
	if err := rows.Err(); err != nil {
		return ledger.ReserveResult{}, err
	}
	res := t.Result()
	if !res.Reserved || res.Taken { // refused, or held already
		return res, nil
	}
	_, err = rs.insert.ExecContext(ctx, string(k.Network), k.Asset, k.Payer, k.Nonce,
		r.Amount.String(), r.Balance.String(), micros(r.Expires), now)
	return res, err
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
