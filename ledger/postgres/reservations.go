package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"

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
// each other. Expiry is judged by the database clock.
func (s *Store) Reserve(ctx context.Context, r *ledger.Reservation) (ledger.ReserveResult, error) {
	if err := reserve.Check(r); err != nil {
		return ledger.ReserveResult{}, fmt.Errorf("ledger/postgres: reserve: %w", err)
	}
	var res ledger.ReserveResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = reserveTx(ctx, tx, r)
		return err
	})
	if err != nil {
		return ledger.ReserveResult{}, fail(ctx, "reserve", err)
	}
	return res, nil
}

// payerLock is the advisory lock key of a payer's funds on one asset.
func payerLock(r *ledger.Reservation) int64 {
	h := fnv.New64a()
	for _, f := range []string{"go402/ledger/postgres reserve", string(r.Key.Network), r.Key.Asset, r.Key.Payer} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}

// reserveTx decides one reservation in tx, holding the payer's lock, and
// inserts it if it fits.
func reserveTx(ctx context.Context, tx pgx.Tx, r *ledger.Reservation) (ledger.ReserveResult, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, payerLock(r)); err != nil {
		return ledger.ReserveResult{}, err
	}
	k := r.Key
	// Read after the lock is held (a new statement, so a new snapshot
	// under READ COMMITTED): the key's own reservation and settlement, and
	// the sum, in the database, of what else holds the payer's funds
	// (unexpired reservations, and unfinished settlements without one).
	var reserved, status *string
	var held string
	err := tx.QueryRow(ctx, `SELECT
		(SELECT amount FROM reservations WHERE network = $1 AND asset = $2 AND payer = $3 AND nonce = $4
			AND expires_at > statement_timestamp()),
		(SELECT status FROM settlements WHERE network = $1 AND asset = $2 AND payer = $3 AND nonce = $4),
		(SELECT COALESCE(SUM(CASE WHEN amount ~ '^[0-9]+$' THEN amount::numeric END), 0)::text FROM (
			SELECT amount FROM reservations
				WHERE network = $1 AND asset = $2 AND payer = $3 AND nonce <> $4 AND expires_at > statement_timestamp()
			UNION ALL
			SELECT amount FROM settlements s
				WHERE network = $1 AND asset = $2 AND payer = $3 AND nonce <> $4 AND status IN ('settling', 'pending')
				AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.network = s.network AND r.asset = s.asset
					AND r.payer = s.payer AND r.nonce = s.nonce AND r.expires_at > statement_timestamp())
		) h)`, string(k.Network), k.Asset, k.Payer, k.Nonce).Scan(&reserved, &status, &held)
	if err != nil {
		return ledger.ReserveResult{}, err
	}
	t := reserve.New(r)
	if reserved != nil {
		t.Reservation(k.Nonce, *reserved)
	}
	if status != nil {
		t.Settlement(k.Nonce, ledger.Status(*status), "")
	}
	h, ok := new(big.Int).SetString(held, 10)
	if !ok {
		return ledger.ReserveResult{}, fmt.Errorf("reading the sum of holds: %q is not an integer", held)
	}
	t.Held(h)
	res := t.Result()
	if !res.Reserved || res.Taken { // refused, or held already
		return res, nil
	}
	// A row still there for the key is an expired reservation: replace it.
	_, err = tx.Exec(ctx, `INSERT INTO reservations (network, asset, payer, nonce, amount, balance, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (network, asset, payer, nonce) DO UPDATE SET amount = excluded.amount,
			balance = excluded.balance, expires_at = excluded.expires_at, created_at = excluded.created_at`,
		string(k.Network), k.Asset, k.Payer, k.Nonce, r.Amount.String(), r.Balance.String(), r.Expires)
	return res, err
}

// PurgeReservations deletes the reservations that expired before t; see
// [ledger.Store.PurgeReservations].
func (s *Store) PurgeReservations(ctx context.Context, t time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM reservations WHERE expires_at <= $1`, t)
	if err != nil {
		return 0, fail(ctx, "purge reservations", err)
	}
	return tag.RowsAffected(), nil
}
