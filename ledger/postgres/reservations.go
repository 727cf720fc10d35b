package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/internal/reserve"
)

// Reserve holds r.Amount of the payer's funds for r.Key if they are free;
// see [ledger.Store.Reserve]. It runs one transaction that first takes a
// transaction-scoped advisory lock on (network, asset, payer): the
// Reserves of one payer, from any process on the database, run one after
// the other, each reading the reservations and unfinished settlements the
// ones before it committed, and inserting its own only if the balance less
// those covers its amount. Reserves of different payers do not wait for
// each other. Expiry is judged by the database clock. The event of
// r.Event is inserted in the same transaction, which takes two round
// trips: BEGIN, the lock and the reads (pipelined), then the inserts and
// COMMIT (pipelined).
func (s *Store) Reserve(ctx context.Context, r *ledger.Reservation) (ledger.ReserveResult, error) {
	if err := reserve.Check(r); err != nil {
		return ledger.ReserveResult{}, fmt.Errorf("ledger/postgres: reserve: %w", err)
	}
	var eventErr error
	for {
		res, err := s.reserveOnce(ctx, r, eventErr == nil)
		var refused *eventRefused
		if errors.As(err, &refused) && eventErr == nil {
			eventErr = refused.err // decide again, without the event
			continue
		}
		if err != nil {
			return ledger.ReserveResult{}, fail(ctx, "reserve", err)
		}
		res.EventErr = eventErr
		return res, nil
	}
}

// reserveOnce runs one reservation transaction on a connection of its
// own. A transaction a failure left open is rolled back; if that fails
// too, the connection, not idle, is closed by the pool on release.
func (s *Store) reserveOnce(ctx context.Context, r *ledger.Reservation, withEvent bool) (ledger.ReserveResult, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return ledger.ReserveResult{}, err
	}
	defer conn.Release()
	res, err := reserveTx(ctx, conn.Conn(), r, withEvent)
	if err != nil && conn.Conn().PgConn().TxStatus() != 'I' && !conn.Conn().IsClosed() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		_, _ = conn.Exec(rctx, "ROLLBACK")
		cancel()
	}
	return res, err
}

// rollbackTimeout bounds the ROLLBACK of a failed reservation transaction.
const rollbackTimeout = 5 * time.Second

// batchSender sends pipelined statements: a connection or a transaction.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// eventRefused is a reservation's event the server refused for its
// content.
type eventRefused struct{ err error }

func (e *eventRefused) Error() string { return e.err.Error() }

// payerLock is the advisory lock key of a payer's funds on one asset.
func payerLock(r *ledger.Reservation) int64 {
	h := fnv.New64a()
	for _, f := range []string{"go402/ledger/postgres reserve", string(r.Key.Network), r.Key.Asset, r.Key.Payer} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}

// amountSQL is a stored amount as numeric; a malformed one (never
// written by this module) counts as nothing.
const amountSQL = `CASE WHEN amount ~ '^[0-9]+$' THEN amount::numeric ELSE 0 END`

// readHolds deletes the payer's expired reservations (subtracting them
// from its running total), and reads the key's own reservation and
// settlement, the payer's running total, and what its unfinished
// settlements without a reservation hold besides the key.
const readHolds = `WITH gone AS (
		DELETE FROM reservations WHERE network = $1 AND asset = $2 AND payer = $3
			AND expires_at <= statement_timestamp()
		RETURNING amount
	), upd AS (
		UPDATE reservation_holds SET held = held - (SELECT SUM(` + amountSQL + `) FROM gone)
		WHERE network = $1 AND asset = $2 AND payer = $3 AND EXISTS (SELECT 1 FROM gone)
		RETURNING held
	)
	SELECT
		(SELECT amount FROM reservations WHERE network = $1 AND asset = $2 AND payer = $3 AND nonce = $4
			AND expires_at > statement_timestamp()),
		(SELECT status FROM settlements WHERE network = $1 AND asset = $2 AND payer = $3 AND nonce = $4),
		COALESCE((SELECT held FROM upd),
			(SELECT held FROM reservation_holds WHERE network = $1 AND asset = $2 AND payer = $3), 0)::text,
		(SELECT COALESCE(SUM(` + amountSQL + `), 0)::text FROM settlements s
			WHERE network = $1 AND asset = $2 AND payer = $3 AND status IN ('settling', 'pending') AND nonce <> $4
			AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.network = s.network AND r.asset = s.asset
				AND r.payer = s.payer AND r.nonce = s.nonce AND r.expires_at > statement_timestamp()))`

// insertReservation inserts a reservation and adds it to its payer's
// running total. No row is left for the key: an expired one was deleted
// by readHolds.
const insertReservation = `WITH ins AS (
		INSERT INTO reservations (network, asset, payer, nonce, amount, balance, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING 1
	)
	INSERT INTO reservation_holds (network, asset, payer, held)
	SELECT $1, $2, $3, ($5::text)::numeric FROM ins
	ON CONFLICT (network, asset, payer) DO UPDATE SET held = reservation_holds.held + excluded.held`

// reserveTx decides one reservation in a transaction it opens on conn,
// holding the payer's lock, inserts it if it fits and, if withEvent,
// inserts the event r.Event returns for the outcome, and commits. On
// failure the transaction may be left open (aborted): the caller rolls
// it back.
func reserveTx(ctx context.Context, conn batchSender, r *ledger.Reservation, withEvent bool) (ledger.ReserveResult, error) {
	k := r.Key
	// The reads run after the lock is held (a new statement, so a new
	// snapshot under READ COMMITTED), pipelined with it and the BEGIN.
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, payerLock(r))
	b.Queue(readHolds, string(k.Network), k.Asset, k.Payer, k.Nonce)
	br := conn.SendBatch(ctx, b)
	var reserved, status *string
	var total, unfinished string
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&reserved, &status, &total, &unfinished)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ledger.ReserveResult{}, err
	}
	res, err := decide(r, reserved, status, total, unfinished)
	if err != nil {
		return res, err
	}
	var ev *ledger.Event
	if withEvent && r.Event != nil {
		ev = r.Event(res)
	}
	return res, writeReservation(ctx, conn, r, res.Reserved && !res.Taken, ev)
}

// decide feeds what reserveTx read to a tally.
func decide(r *ledger.Reservation, reserved, status *string, total, unfinished string) (ledger.ReserveResult, error) {
	t := reserve.New(r)
	held, ok := new(big.Int).SetString(total, 10)
	if !ok {
		return ledger.ReserveResult{}, fmt.Errorf("reading the payer's total held: %q is not an integer", total)
	}
	if reserved != nil {
		t.Reservation(r.Key.Nonce, *reserved)
		if v, ok := new(big.Int).SetString(*reserved, 10); ok && v.Sign() > 0 {
			held.Sub(held, v)
		}
	}
	if status != nil {
		t.Settlement(r.Key.Nonce, ledger.Status(*status), "")
	}
	u, ok := new(big.Int).SetString(unfinished, 10)
	if !ok {
		return ledger.ReserveResult{}, fmt.Errorf("reading the sum of unfinished settlements: %q is not an integer", unfinished)
	}
	t.Held(held)
	t.Held(u)
	return t.Result(), nil
}

// writeReservation inserts the reservation (if insert) and the event (if
// not nil), and commits, pipelined, and sets the event's ID and Time.
func writeReservation(ctx context.Context, conn batchSender, r *ledger.Reservation, insert bool, ev *ledger.Event) error {
	k := r.Key
	b := &pgx.Batch{}
	if insert {
		b.Queue(insertReservation, string(k.Network), k.Asset, k.Payer, k.Nonce, r.Amount.String(), r.Balance.String(), r.Expires)
	}
	if ev != nil {
		queueEvent(b, ev)
	}
	b.Queue(`COMMIT`)
	br := conn.SendBatch(ctx, b)
	var err error
	if insert {
		_, err = br.Exec()
	}
	var id int64
	var t time.Time
	if err == nil && ev != nil {
		if err = br.QueryRow().Scan(&id, &t); err != nil && refusesRow(err) {
			err = &eventRefused{err: err}
		}
	}
	if err == nil {
		var tag pgconn.CommandTag
		// COMMIT of a transaction that failed answers ROLLBACK.
		if tag, err = br.Exec(); err == nil && tag.String() != "COMMIT" {
			err = fmt.Errorf("reservation transaction not committed: %s", tag)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && ev != nil {
		ev.ID, ev.Time = id, pick(ev.Time, t)
	}
	return err
}

// pick returns t, or db (the database's time) when t is zero.
func pick(t, db time.Time) time.Time {
	if t.IsZero() {
		return db.UTC()
	}
	return t
}

// PurgeReservations deletes the reservations that expired before t, and
// subtracts them from their payers' running totals; see
// [ledger.Store.PurgeReservations].
func (s *Store) PurgeReservations(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `WITH gone AS (
			DELETE FROM reservations WHERE expires_at <= $1 RETURNING network, asset, payer, amount
		), per AS (
			SELECT network, asset, payer, SUM(`+amountSQL+`) AS amount FROM gone GROUP BY network, asset, payer
		), upd AS (
			UPDATE reservation_holds h SET held = h.held - per.amount FROM per
			WHERE h.network = per.network AND h.asset = per.asset AND h.payer = per.payer
		)
		SELECT count(*) FROM gone`, t).Scan(&n)
	if err != nil {
		return 0, fail(ctx, "purge reservations", err)
	}
	return n, nil
}
