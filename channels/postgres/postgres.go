// Package postgres is the [channels.Store] for several resource server
// replicas sharing one PostgreSQL database: each method is one statement
// (or one short transaction), so that the atomicity contract of package
// channels holds across replicas.
//
//   - Reserve is one conditional UPDATE that takes the lease row's
//     lease_holder/lease_until only when no other holder's lease is live:
//     a lease, not an advisory lock, so that no connection is pinned while
//     a handler runs and a crashed replica's lease simply expires.
//   - Commit is one UPDATE ... WHERE charged = expected: the
//     compare-and-set that counts each voucher once whichever replica
//     commits first.
//   - RecordClaim and Sync lock the row (SELECT ... FOR UPDATE) to raise
//     total_claimed monotonically.
package postgres

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/go402/go402/channels"
	"github.com/go402/go402/channels/internal/codec"
	"github.com/go402/go402/x402"
)

//go:embed migrations/0001_init.sql
var schemaSQL string

// Config configures [Open].
type Config struct {
	// URL is the connection string accepted by pgxpool.ParseConfig.
	URL string
	// Schema, if set, holds the tables (created if missing, and the
	// search_path of every connection).
	Schema string
	// MaxConns caps the pool; 0 keeps pgxpool's default.
	MaxConns int32
}

// Store is a [channels.Store] in PostgreSQL. Any number of Stores, in any
// number of processes, may share one database and schema.
type Store struct {
	pool *pgxpool.Pool
}

var _ channels.Store = (*Store)(nil)

// Open connects and creates the schema if needed.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("channels/postgres: no database URL")
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The error may quote the URL, password included; do not wrap it.
		return nil, errors.New("channels/postgres: cannot parse the database URL")
	}
	if cfg.Schema != "" {
		pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("channels/postgres: open: %w", err)
	}
	if err := migrate(ctx, pool, cfg.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// migrate creates the schema and tables, once between concurrent Opens
// (a transaction-scoped advisory lock serialises them).
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("channels/postgres: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(4020014)`); err != nil {
		return fmt.Errorf("channels/postgres: migrate: %w", err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("channels/postgres: migrate: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, schemaSQL); err != nil {
		return fmt.Errorf("channels/postgres: migrate: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("channels/postgres: migrate: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

const selectCols = codec.Columns + ", lease_holder, lease_until"

func scan(row pgx.Row) (channels.Channel, error) {
	var r codec.Row
	var holder string
	var until int64
	if err := row.Scan(append(r.Dest(), &holder, &until)...); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return channels.Channel{}, channels.ErrNotFound
		}
		return channels.Channel{}, fmt.Errorf("channels/postgres: %w", err)
	}
	ch, err := r.Channel()
	ch.LeaseHolder, ch.LeaseUntil = holder, codec.Time(until)
	return ch, err
}

// Get implements [channels.Store].
func (s *Store) Get(ctx context.Context, id string) (channels.Channel, error) {
	return scan(s.pool.QueryRow(ctx, `SELECT `+selectCols+` FROM channels WHERE id = $1`, codec.NormID(id)))
}

// Create implements [channels.Store].
func (s *Store) Create(ctx context.Context, ch channels.Channel) error {
	r := codec.FromChannel(&ch)
	_, err := s.pool.Exec(ctx, `INSERT INTO channels (`+codec.Columns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`, r.Args()...)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return channels.ErrExists
	}
	if err != nil {
		return fmt.Errorf("channels/postgres: create: %w", err)
	}
	return nil
}

// Reserve implements [channels.Store].
func (s *Store) Reserve(ctx context.Context, id, holder string, until, now time.Time) (channels.Channel, error) {
	id = codec.NormID(id)
	ch, err := scan(s.pool.QueryRow(ctx, `UPDATE channels SET lease_holder = $2, lease_until = $3
		WHERE id = $1 AND (lease_holder = '' OR lease_holder = $2 OR lease_until <= $4)
		RETURNING `+selectCols, id, holder, codec.Millis(until), codec.Millis(now)))
	if !errors.Is(err, channels.ErrNotFound) {
		return ch, err
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM channels WHERE id = $1`, id).Scan(&n); err != nil {
		return channels.Channel{}, fmt.Errorf("channels/postgres: reserve: %w", err)
	}
	if n == 0 {
		return channels.Channel{}, channels.ErrNotFound
	}
	return channels.Channel{}, channels.ErrBusy
}

// Release implements [channels.Store].
func (s *Store) Release(ctx context.Context, id, holder string) error {
	_, err := s.pool.Exec(ctx, `UPDATE channels SET lease_holder = '', lease_until = 0 WHERE id = $1 AND lease_holder = $2`, codec.NormID(id), holder)
	if err != nil {
		return fmt.Errorf("channels/postgres: release: %w", err)
	}
	return nil
}

// Commit implements [channels.Store].
func (s *Store) Commit(ctx context.Context, c channels.Charge) (channels.Channel, error) {
	id := codec.NormID(c.ID)
	ch, err := scan(s.pool.QueryRow(ctx, `UPDATE channels SET charged = $3, signed_max = $4, signature = $5, last_request_at = $6,
		lease_holder = CASE WHEN lease_holder = $7 THEN '' ELSE lease_holder END,
		lease_until = CASE WHEN lease_holder = $7 THEN 0 ELSE lease_until END
		WHERE id = $1 AND charged = $2 RETURNING `+selectCols,
		id, c.Expected.String(), c.Charged.String(), c.SignedMax.String(), c.Signature, codec.Millis(c.At), c.Holder))
	if !errors.Is(err, channels.ErrNotFound) {
		return ch, err
	}
	if _, err := s.Get(ctx, id); err != nil {
		return channels.Channel{}, err
	}
	return channels.Channel{}, channels.ErrConflict
}

// Sync implements [channels.Store].
func (s *Store) Sync(ctx context.Context, id string, o channels.Onchain) error {
	return s.locked(ctx, id, func(tx pgx.Tx, cur *channels.Channel) error {
		if o.TotalClaimed.Cmp(cur.Onchain.TotalClaimed) < 0 {
			o.TotalClaimed = cur.Onchain.TotalClaimed
		}
		_, err := tx.Exec(ctx, `UPDATE channels SET balance = $2, total_claimed = $3, withdraw_requested_at = $4, refund_nonce = $5, synced_at = $6 WHERE id = $1`,
			cur.ID, o.Balance.String(), o.TotalClaimed.String(), o.WithdrawRequestedAt, int64(o.RefundNonce), codec.Millis(o.SyncedAt))
		return err
	})
}

// RecordClaim implements [channels.Store].
func (s *Store) RecordClaim(ctx context.Context, id string, claimed x402.Amount) error {
	return s.locked(ctx, id, func(tx pgx.Tx, cur *channels.Channel) error {
		if claimed.Cmp(cur.Onchain.TotalClaimed) <= 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE channels SET total_claimed = $2 WHERE id = $1`, cur.ID, claimed.String())
		return err
	})
}

// locked runs f in a transaction holding the channel's row lock.
func (s *Store) locked(ctx context.Context, id string, f func(pgx.Tx, *channels.Channel) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("channels/postgres: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	cur, err := scan(tx.QueryRow(ctx, `SELECT `+selectCols+` FROM channels WHERE id = $1 FOR UPDATE`, codec.NormID(id)))
	if err != nil {
		return err
	}
	if err := f(tx, &cur); err != nil {
		return fmt.Errorf("channels/postgres: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("channels/postgres: %w", err)
	}
	return nil
}

// Unclaimed implements [channels.Store].
func (s *Store) Unclaimed(ctx context.Context) ([]channels.Channel, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+selectCols+` FROM channels WHERE charged <> total_claimed ORDER BY last_request_at`)
	if err != nil {
		return nil, fmt.Errorf("channels/postgres: unclaimed: %w", err)
	}
	defer rows.Close()
	var out []channels.Channel
	for rows.Next() {
		ch, err := scan(rows)
		if err != nil {
			return nil, err
		}
		if ch.Unclaimed() {
			out = append(out, ch)
		}
	}
	return out, rows.Err()
}
