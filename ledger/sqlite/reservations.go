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
	// ev is the event r.Event returned for res, written with it.
	ev *ledger.Event
	// noEvent: the store refused ev; the reservation is decided again
	// and written without it.
	noEvent bool
}

// Reserve holds r.Amount of the payer's funds for r.Key if they are free;
// see [ledger.Store.Reserve]. The check and the insert run in a write
// transaction (BEGIN IMMEDIATE), which SQLite's write lock makes atomic
// across every connection and process on the file. The Reserves of
// concurrent calls are evaluated one after the other in one transaction,
// together with the events of concurrent Records (group commit), and the
// event of r.Event is written right after its reservation, in the same
// transaction: a verify costs a share of one fsync.
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
// Only a payer's reservations made before its running total existed (see
// migration 0004) are summed this way, once.
const (
	limbDigits = 15
	limbs      = 6 // 6 × 15 ≥ 78
)

// Statements of a reservation, prepared once on the writer. ?1–?3 are the
// payer (network, asset, payer), ?4 the nonce, ?5 the time.
var reserveQueries = [...]string{
	// read reads, in one statement: the payer's running total of
	// reservations (NULL if it has none yet); whether it has expired
	// reservations; the key's own unexpired reservation and its
	// settlement; and the amounts of the payer's unfinished settlements
	// without a reservation besides the key (few: those being settled).
	qRead: `SELECT
		(SELECT held FROM reservation_holds WHERE network = ?1 AND asset = ?2 AND payer = ?3),
		EXISTS (SELECT 1 FROM reservations WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND expires_at <= ?5),
		(SELECT amount FROM reservations WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND nonce = ?4 AND expires_at > ?5),
		(SELECT status FROM settlements WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND nonce = ?4),
		(SELECT group_concat(amount) FROM settlements s INDEXED BY settlements_unfinished
			WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND status IN ('settling', 'pending') AND nonce <> ?4
			AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.network = s.network AND r.asset = s.asset
				AND r.payer = s.payer AND r.nonce = s.nonce AND r.expires_at > ?5))`,
	// expire deletes the payer's expired reservations.
	qExpire: `DELETE FROM reservations
		WHERE network = ?1 AND asset = ?2 AND payer = ?3 AND expires_at <= ?4 RETURNING amount`,
	// sum sums the payer's reservations, when it has no running total.
	qSum: sumLimbs(payerRows),
	qInsert: `INSERT INTO reservations (network, asset, payer, nonce, amount, balance, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
	qUpdateTotal: `UPDATE reservation_holds SET held = ?4 WHERE network = ?1 AND asset = ?2 AND payer = ?3`,
	qSetTotal: `INSERT INTO reservation_holds (network, asset, payer, held) VALUES (?, ?, ?, ?)
		ON CONFLICT (network, asset, payer) DO UPDATE SET held = excluded.held`,
}

const (
	qRead = iota
	qExpire
	qSum
	qInsert
	qUpdateTotal
	qSetTotal
	nReserveQueries
)

// payerRows are the amounts of a payer's reservations.
const payerRows = `SELECT amount FROM reservations WHERE network = ?1 AND asset = ?2 AND payer = ?3`

func sumLimbs(rows string) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i := range limbs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "COALESCE(SUM(CAST(substr(amount, %d, %d) AS INTEGER)), 0)", -limbDigits*(i+1), limbDigits)
	}
	b.WriteString(" FROM (" + rows + ")")
	return b.String()
}

// prepareReserve prepares the reservation statements on the writer.
func prepareReserve(ctx context.Context, w *sql.DB) ([nReserveQueries]*sql.Stmt, error) {
	var sts [nReserveQueries]*sql.Stmt
	for i, q := range reserveQueries {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			closeStmts(sts[:])
			return sts, err
		}
		sts[i] = st
	}
	return sts, nil
}

func closeStmts(sts []*sql.Stmt) {
	for _, st := range sts {
		if st != nil {
			st.Close()
		}
	}
}

// reserveTx decides one reservation inside a write transaction, and
// inserts it if it fits. One statement reads what the decision needs; the
// payer's expired reservations, if it has any, are deleted and subtracted
// from its running total first.
func (s *Store) reserveTx(ctx context.Context, tx *sql.Tx, r *ledger.Reservation, now int64) (ledger.ReserveResult, error) {
	k := r.Key
	st := func(i int) *sql.Stmt { return tx.StmtContext(ctx, s.reserveStmts[i]) }
	var held, own, status, unfinished sql.NullString
	var expired bool
	if err := st(qRead).QueryRowContext(ctx, string(k.Network), k.Asset, k.Payer, k.Nonce, now).Scan(
		&held, &expired, &own, &status, &unfinished); err != nil {
		return ledger.ReserveResult{}, err
	}
	payer := []any{string(k.Network), k.Asset, k.Payer}
	total, known, dirty, err := s.payerTotal(ctx, tx, payer, held, expired, now)
	if err != nil {
		return ledger.ReserveResult{}, err
	}
	t := reserve.New(r)
	others := new(big.Int).Set(total)
	if own.Valid {
		t.Reservation(k.Nonce, own.String)
		v := new(big.Int)
		addAmount(v, own.String)
		others.Sub(others, v)
	}
	if status.Valid {
		t.Settlement(k.Nonce, ledger.Status(status.String), "")
	}
	t.Held(others)
	if unfinished.Valid {
		u := new(big.Int)
		for _, a := range strings.Split(unfinished.String, ",") {
			addAmount(u, a)
		}
		t.Held(u)
	}
	res := t.Result()
	if res.Reserved && !res.Taken {
		if _, err := st(qInsert).ExecContext(ctx, string(k.Network), k.Asset, k.Payer, k.Nonce,
			r.Amount.String(), r.Balance.String(), micros(r.Expires), now); err != nil {
			return res, err
		}
		total.Add(total, r.Amount)
		dirty = true
	}
	switch {
	case dirty && known:
		_, err = st(qUpdateTotal).ExecContext(ctx, append(payer, total.String())...)
	case dirty:
		_, err = st(qSetTotal).ExecContext(ctx, append(payer, total.String())...)
	}
	return res, err
}

// payerTotal returns what the payer's reservations hold, from its running
// total held (known) less its expired reservations, which it deletes, or,
// if it has no running total yet, summed from its rows. dirty says the
// total is to be written.
func (s *Store) payerTotal(ctx context.Context, tx *sql.Tx, payer []any, held sql.NullString, expired bool, now int64) (total *big.Int, known, dirty bool, err error) {
	gone := new(big.Int)
	if expired {
		if gone, err = sumRows(ctx, tx.StmtContext(ctx, s.reserveStmts[qExpire]), append(payer[:3:3], now)); err != nil {
			return nil, false, false, err
		}
	}
	if !held.Valid {
		total, err = sumHeld(ctx, tx, tx.StmtContext(ctx, s.reserveStmts[qSum]), payerRows, payer)
		return total, false, true, err
	}
	total, ok := new(big.Int).SetString(held.String, 10)
	if !ok {
		return nil, false, false, fmt.Errorf("reading the payer's total held: %q is not an integer", held.String)
	}
	return total.Sub(total, gone), true, gone.Sign() != 0, nil
}

// addAmount adds a stored decimal amount to sum. A malformed one (never
// written by this module) counts as nothing, as in reserve.Tally.
func addAmount(sum *big.Int, amount string) {
	if v, ok := new(big.Int).SetString(amount, 10); ok && v.Sign() > 0 {
		sum.Add(sum, v)
	}
}

// sumRows sums the amounts a query returns, row by row.
func sumRows(ctx context.Context, st *sql.Stmt, args []any) (*big.Int, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sum := new(big.Int)
	for rows.Next() {
		var amount string
		if err := rows.Scan(&amount); err != nil {
			return nil, err
		}
		addAmount(sum, amount)
	}
	return sum, rows.Err()
}

// sumHeld sums the amounts of the query rows: in SQL, with st (rows
// summed by sumLimbs), or, if a piece's sum overflows 64 bits, row by row
// in Go.
func sumHeld(ctx context.Context, tx *sql.Tx, st *sql.Stmt, rows string, args []any) (*big.Int, error) {
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
	q, err := tx.PrepareContext(ctx, rows)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	return sumRows(ctx, q, args)
}

// subtractHeld subtracts amounts deleted from reservations from their
// payers' running totals (those that have one), inside the write
// transaction that deleted them.
func subtractHeld(ctx context.Context, tx *sql.Tx, deleted map[[3]string]*big.Int) error {
	for p, amount := range deleted {
		if amount.Sign() == 0 {
			continue
		}
		var held string
		err := tx.QueryRowContext(ctx, `SELECT held FROM reservation_holds WHERE network = ? AND asset = ? AND payer = ?`,
			p[0], p[1], p[2]).Scan(&held)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return err
		}
		total, ok := new(big.Int).SetString(held, 10)
		if !ok {
			return fmt.Errorf("reading the payer's total held: %q is not an integer", held)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE reservation_holds SET held = ? WHERE network = ? AND asset = ? AND payer = ?`,
			total.Sub(total, amount).String(), p[0], p[1], p[2]); err != nil {
			return err
		}
	}
	return nil
}

// deleteRows runs a DELETE … RETURNING network, asset, payer, amount and
// subtracts what it deleted from the payers' running totals.
func deleteRows(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	deleted := map[[3]string]*big.Int{}
	var n int64
	for rows.Next() {
		var p [3]string
		var amount string
		if err := rows.Scan(&p[0], &p[1], &p[2], &amount); err != nil {
			rows.Close()
			return 0, err
		}
		n++
		if deleted[p] == nil {
			deleted[p] = new(big.Int)
		}
		addAmount(deleted[p], amount)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return n, subtractHeld(ctx, tx, deleted)
}

// deleteReservation deletes the reservation of key, inside a write
// transaction that ended its settlement.
func deleteReservation(ctx context.Context, tx *sql.Tx, key x402.SettlementKey) error {
	_, err := deleteRows(ctx, tx, `DELETE FROM reservations`+whereKey+` RETURNING network, asset, payer, amount`, keyArgs(key)...)
	return err
}

// PurgeReservations deletes the reservations that expired before t; see
// [ledger.Store.PurgeReservations].
func (s *Store) PurgeReservations(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = deleteRows(ctx, tx, `DELETE FROM reservations WHERE expires_at <= ? RETURNING network, asset, payer, amount`, micros(t))
		return err
	})
	if err != nil {
		return 0, fail(ctx, "purge reservations", err)
	}
	return n, nil
}
