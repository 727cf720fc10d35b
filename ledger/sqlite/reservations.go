package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
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

// limbDigits is the width of the pieces in which amounts are summed in
// SQL: SQLite has no integers wider than 64 bits, and amounts are decimal
// text of up to 78 digits (uint256), so each amount is cut into pieces of
// 15 digits, each summed as an INTEGER (without overflow up to about 9,000
// holds of one payer; beyond, SUM fails and the rows are summed in Go).
const (
	limbDigits = 15
	limbs      = 6 // 6 × 15 ≥ 78
)

// Statements of a reservation, prepared once per transaction.
var (
	// selectKey reads the key's own unexpired reservation and settlement.
	selectKey = `SELECT 0, amount, '' FROM reservations
			WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND nonce = ?4 AND expires_at > ?5
		UNION ALL
		SELECT 1, '', status FROM settlements
			WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND nonce = ?4`
	// holdsOf is what holds the payer's funds, besides the key: unexpired
	// reservations, and unfinished settlements without one.
	holdsOf = `SELECT amount FROM reservations
			WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND nonce <> ?4 AND expires_at > ?5
		UNION ALL
		SELECT amount FROM settlements s
			WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND nonce <> ?4 AND status IN ('settling', 'pending')
			AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.network = s.network AND r.asset = s.asset
				AND r.payer = s.payer AND r.nonce = s.nonce AND r.expires_at > ?5)`
	// sumHolds sums holdsOf in SQL, piece by piece (see limbDigits).
	sumHolds = sumLimbs()
	// insertReservation replaces a row still there for the key, which is
	// an expired reservation.
	insertReservation = `INSERT INTO reservations (network, asset, payer, nonce, amount, balance, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (network, asset, payer, nonce) DO UPDATE SET amount = excluded.amount,
			balance = excluded.balance, expires_at = excluded.expires_at, created_at = excluded.created_at`
)

func sumLimbs() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range limbs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "COALESCE(SUM(CAST(substr(amount, %d, %d) AS INTEGER)), 0)", -limbDigits*(i+1), limbDigits)
	}
	b.WriteString(" FROM (" + holdsOf + ")")
	return b.String()
}

// reserveStmts are the prepared statements of reservations in one write
// transaction.
type reserveStmts struct {
	key, sum, insert *sql.Stmt
}

func prepareReserve(ctx context.Context, tx *sql.Tx) (*reserveStmts, error) {
	rs := &reserveStmts{}
	for _, p := range []struct {
		stmt **sql.Stmt
		q    string
	}{{&rs.key, selectKey}, {&rs.sum, sumHolds}, {&rs.insert, insertReservation}} {
		st, err := tx.PrepareContext(ctx, p.q)
		if err != nil {
			rs.close()
			return nil, err
		}
		*p.stmt = st
	}
	return rs, nil
}

func (rs *reserveStmts) close() {
	if rs == nil {
		return
	}
	for _, st := range []*sql.Stmt{rs.key, rs.sum, rs.insert} {
		if st != nil {
			st.Close()
		}
	}
}

// reserveTx decides one reservation inside a write transaction, and
// inserts it if it fits.
func reserveTx(ctx context.Context, tx *sql.Tx, rs *reserveStmts, r *ledger.Reservation, now int64) (ledger.ReserveResult, error) {
	k := r.Key
	args := []any{string(k.Network), k.Asset, k.Payer, k.Nonce, now}
	t := reserve.New(r)
	if err := scanKey(ctx, rs.key, args, t); err != nil {
		return ledger.ReserveResult{}, err
	}
	held, err := sumHeld(ctx, tx, rs.sum, args)
	if err != nil {
		return ledger.ReserveResult{}, err
	}
	t.Held(held)
	res := t.Result()
	if !res.Reserved || res.Taken { // refused, or held already
		return res, nil
	}
	_, err = rs.insert.ExecContext(ctx, string(k.Network), k.Asset, k.Payer, k.Nonce,
		r.Amount.String(), r.Balance.String(), micros(r.Expires), now)
	return res, err
}

// scanKey feeds the key's own reservation and settlement to t.
func scanKey(ctx context.Context, st *sql.Stmt, args []any, t *reserve.Tally) error {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	nonce := args[3].(string)
	for rows.Next() {
		var kind int
		var amount, status string
		if err := rows.Scan(&kind, &amount, &status); err != nil {
			return err
		}
		if kind == 0 {
			t.Reservation(nonce, amount)
		} else {
			t.Settlement(nonce, ledger.Status(status), "")
		}
	}
	return rows.Err()
}

// sumHeld sums what holds the payer's funds: in SQL, or, if a piece's
// sum overflows 64 bits, row by row in Go.
func sumHeld(ctx context.Context, tx *sql.Tx, st *sql.Stmt, args []any) (*big.Int, error) {
	var parts [limbs]int64
	dest := make([]any, limbs)
	for i := range parts {
		dest[i] = &parts[i]
	}
	err := st.QueryRowContext(ctx, args...).Scan(dest...)
	if err == nil {
		held, unit := new(big.Int), new(big.Int).Exp(big.NewInt(10), big.NewInt(limbDigits), nil)
		for i := limbs - 1; i >= 0; i-- {
			held.Mul(held, unit).Add(held, big.NewInt(parts[i]))
		}
		return held, nil
	}
	if !strings.Contains(err.Error(), "integer overflow") {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, holdsOf, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	held := new(big.Int)
	for rows.Next() {
		var amount string
		if err := rows.Scan(&amount); err != nil {
			return nil, err
		}
		if v, ok := new(big.Int).SetString(amount, 10); ok && v.Sign() > 0 {
			held.Add(held, v)
		}
	}
	return held, rows.Err()
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
