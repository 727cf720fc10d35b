// Package pgqueue is a durable settlement queue, and the claims of one
// payment buying one response, for x402http's serve-then-settle routes in
// a PostgreSQL database: replicas of a server or gateway on several hosts
// share it. It implements x402http.Queue and x402http.ExpiringQueue, and
// uses the pgx driver (a pgxpool pool).
//
// # Atomicity
//
// Nothing relies on process memory; every decision is one statement:
//
//   - A claim is one INSERT ... ON CONFLICT (auth_key) DO NOTHING on a
//     unique key: of the replicas given copies of one payment at once,
//     exactly one inserts the row and serves; the others get
//     x402http.ErrDuplicate and answer 402.
//   - Enqueue turns that claim into a queued settlement with one
//     compare-and-set UPDATE (state 'claimed' to 'queued'), or inserts it
//     with ON CONFLICT DO NOTHING.
//   - Settling work is taken by one UPDATE whose row is chosen by
//     SELECT ... FOR UPDATE SKIP LOCKED: the due row whose authorization
//     expires first is leased (made due again only after the lease) and
//     handed to one worker of one replica; concurrent workers skip it.
//   - A replica that dies mid-settle leaves its lease, which runs out: the
//     row is due again and another replica settles the same payment. The
//     facilitator answers a repeated settle of one authorization with the
//     first result (its ledger settles an authorization once), so the
//     retry is idempotent and the payee is paid once.
//   - A recorded success is final: a late outcome of an expired lease
//     never overwrites it, and a retry is only rescheduled while the row
//     is still queued.
//
// Queued, done and failed rows are kept, so a payment that was served
// stays refused; claims that were never queued are deleted once their
// authorization has expired.
//
// Leases and due times are computed from the clock of the replica
// ([Config.Now]); keep the hosts' clocks synchronised (NTP) and the lease
// well above any clock skew and above the longest settlement (x402http
// bounds one at 2 minutes).
//
// [Open] creates the tables (in [Config.Schema] if set) and records the
// schema's version in pgqueue_schema, under an advisory lock, so that
// replicas starting together create them once.
package pgqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// Defaults.
const (
	DefaultLease        = 3 * time.Minute
	DefaultPollInterval = 200 * time.Millisecond
	maxBackoff          = 5 * time.Minute
	pruneInterval       = time.Minute
	throughputWindow    = 10 * time.Second
	takeTimeout         = 30 * time.Second
)

// schemaVersion is the version of the tables this package writes.
const schemaVersion = 2

// Config configures [Open]. URL is required.
type Config struct {
	// URL is the connection string (postgres://user@host/db?... or
	// key=value pairs), as accepted by pgxpool.ParseConfig.
	URL string
	// Schema, if set, holds the queue's tables: it is created if missing
	// and set as the search_path of every connection.
	Schema string
	// MaxConns caps the pool's connections; 0 keeps pgxpool's default.
	MaxConns int32
	// Lease is how long a worker holds an item before another replica may
	// take it (the worker died); if zero, DefaultLease.
	Lease time.Duration
	// PollInterval is how often Next looks for due items; if zero,
	// DefaultPollInterval.
	PollInterval time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Queue is a durable settlement queue in PostgreSQL. It is safe for
// concurrent use, and any number of Queues, in any number of processes on
// any number of hosts, may share one database (and schema).
type Queue struct {
	pool   *pgxpool.Pool
	lease  time.Duration
	poll   time.Duration
	now    func() time.Time
	notify chan struct{}

	mu    sync.Mutex
	prune time.Time
}

var (
	_ x402http.Queue         = (*Queue)(nil)
	_ x402http.ExpiringQueue = (*Queue)(nil)
)

// Open connects to cfg.URL and creates the queue's tables if needed.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.URL == "" {
		return nil, errors.New("x402http/pgqueue: no database URL")
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The error may quote the URL, password included; do not wrap it.
		return nil, errors.New("x402http/pgqueue: cannot parse the database URL")
	}
	if cfg.Schema != "" {
		pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("x402http/pgqueue: open: %w", err)
	}
	if err := migrate(ctx, pool, cfg.Schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("x402http/pgqueue: creating schema: %w", err)
	}
	q := &Queue{pool: pool, lease: cfg.Lease, poll: cfg.PollInterval, now: cfg.Now, notify: make(chan struct{}, 1)}
	if q.lease <= 0 {
		q.lease = DefaultLease
	}
	if q.poll <= 0 {
		q.poll = DefaultPollInterval
	}
	if q.now == nil {
		q.now = time.Now
	}
	return q, nil
}

// migrate creates the tables in one transaction holding an advisory lock
// on the schema, and refuses a schema written by a newer version.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	h := fnv.New64a()
	h.Write([]byte("go402/x402http/pgqueue migrate " + schema))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
		return err
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS pgqueue_schema (version integer PRIMARY KEY)`); err != nil {
		return err
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM pgqueue_schema`).Scan(&v); err != nil {
		return err
	}
	switch {
	case v > schemaVersion:
		return fmt.Errorf("the database holds queue schema version %d, newer than this program's %d", v, schemaVersion)
	case v == schemaVersion:
		return tx.Commit(ctx)
	}
	if v < 1 {
		if _, err := tx.Exec(ctx, `CREATE TABLE settlement_queue (
			id         bigserial PRIMARY KEY,
			auth_key   text UNIQUE,            -- the payment's authorization key
			request    bytea NOT NULL,
			state      text NOT NULL DEFAULT 'queued', -- claimed | queued | done | failed
			attempts   integer NOT NULL DEFAULT 0,
			due_at     bigint NOT NULL,        -- unix ms: when it may be (re)tried
			expires_at bigint NOT NULL DEFAULT 0, -- unix ms: when the authorization expires; 0 unknown
			response   text NOT NULL DEFAULT '',
			created_at bigint NOT NULL,
			updated_at bigint NOT NULL
		);
		CREATE INDEX settlement_queue_due ON settlement_queue (state, due_at);
		CREATE INDEX settlement_queue_finished ON settlement_queue (state, updated_at);
		INSERT INTO pgqueue_schema (version) VALUES (1);`); err != nil {
			return err
		}
	}
	if err := migrateResponses(ctx, tx); err != nil { // version 2: see responses.go
		return err
	}
	return tx.Commit(ctx)
}

// Close closes the pool.
func (q *Queue) Close() error {
	q.pool.Close()
	return nil
}

// Ping checks that the database answers a query (the gateway's GET /ready).
func (q *Queue) Ping(ctx context.Context) error {
	var one int
	return q.pool.QueryRow(ctx, "SELECT 1").Scan(&one)
}

var errDuplicate = fmt.Errorf("x402http/pgqueue: %w", x402http.ErrDuplicate)

// Claim records that the payment authorization key is used for one
// response until the given time, by one INSERT ... ON CONFLICT DO NOTHING.
// It fails with an error wrapping x402http.ErrDuplicate if key was claimed
// or queued before, by any replica, and not released.
func (q *Queue) Claim(ctx context.Context, key string, until time.Time) error {
	if key == "" {
		return errors.New("x402http/pgqueue: empty authorization key")
	}
	now := q.now()
	q.pruneClaims(ctx, now)
	ms := now.UnixMilli()
	tag, err := q.pool.Exec(ctx, `INSERT INTO settlement_queue (auth_key, request, state, due_at, expires_at, created_at, updated_at)
		VALUES ($1, '\x', 'claimed', 0, $2, $3, $3) ON CONFLICT (auth_key) DO NOTHING`, key, until.UnixMilli(), ms)
	if err != nil {
		return fmt.Errorf("x402http/pgqueue: claim: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errDuplicate
	}
	return nil
}

// pruneClaims deletes, at most once per pruneInterval, the claims never
// queued whose authorization has expired.
func (q *Queue) pruneClaims(ctx context.Context, now time.Time) {
	q.mu.Lock()
	due := now.After(q.prune)
	if due {
		q.prune = now.Add(pruneInterval)
	}
	q.mu.Unlock()
	if due {
		// Best effort: a failure only delays the clean-up.
		_, _ = q.pool.Exec(ctx, `DELETE FROM settlement_queue WHERE state = 'claimed' AND expires_at < $1`, now.Add(-time.Minute).UnixMilli())
	}
}

// Release deletes the claim of key if it was not queued.
func (q *Queue) Release(ctx context.Context, key string) error {
	if _, err := q.pool.Exec(ctx, `DELETE FROM settlement_queue WHERE auth_key = $1 AND state = 'claimed'`, key); err != nil {
		return fmt.Errorf("x402http/pgqueue: release: %w", err)
	}
	return nil
}

// Enqueue stores req durably as the settlement of the payment claimed as
// key (a key never claimed is claimed and queued at once). It fails with
// an error wrapping x402http.ErrDuplicate if key was queued already. An
// empty key is not checked for duplicates.
func (q *Queue) Enqueue(ctx context.Context, key string, req *x402.FacilitatorRequest) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("x402http/pgqueue: encoding request: %w", err)
	}
	now := q.now().UnixMilli()
	var dbKey *string
	if key != "" {
		dbKey = &key
		tag, err := q.pool.Exec(ctx, `UPDATE settlement_queue SET request = $1, state = 'queued', due_at = $2, updated_at = $2
			WHERE auth_key = $3 AND state = 'claimed'`, body, now, key)
		if err != nil {
			return fmt.Errorf("x402http/pgqueue: enqueue: %w", err)
		}
		if tag.RowsAffected() == 1 {
			q.wake()
			return nil
		}
	}
	tag, err := q.pool.Exec(ctx, `INSERT INTO settlement_queue (auth_key, request, due_at, created_at, updated_at)
		VALUES ($1, $2, $3, $3, $3) ON CONFLICT (auth_key) DO NOTHING`, dbKey, body, now)
	if err != nil {
		return fmt.Errorf("x402http/pgqueue: enqueue: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errDuplicate
	}
	q.wake()
	return nil
}

// wake tells a waiting Next of this process that an item is due.
func (q *Queue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Next waits for a due item, leases it, and returns it (see
// [Queue.NextSettlement]).
func (q *Queue) Next(ctx context.Context) (string, *x402.FacilitatorRequest, error) {
	it, err := q.NextSettlement(ctx)
	if err != nil {
		return "", nil, err
	}
	return it.ID, it.Request, nil
}

// NextSettlement waits for a due item, leases it, and returns it with its
// deadline: of the due items, the one whose claim ends first (unknown
// ends last). One caller, of every replica sharing the database, gets it.
func (q *Queue) NextSettlement(ctx context.Context) (x402http.QueuedSettlement, error) {
	t := time.NewTicker(q.poll)
	defer t.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return x402http.QueuedSettlement{}, err
		}
		it, ok, err := q.take(ctx)
		if err != nil || ok {
			return it, err
		}
		select {
		case <-ctx.Done():
			return x402http.QueuedSettlement{}, ctx.Err()
		case <-q.notify:
		case <-t.C:
		}
	}
}

// take leases the most urgent due item, if any, in one statement; rows
// another transaction is leasing are skipped (FOR UPDATE SKIP LOCKED). The
// statement is not cut short by ctx: an item it leased is returned, not
// left leased to no one until its lease runs out (it is bounded by
// takeTimeout instead, should the database stop answering).
func (q *Queue) take(ctx context.Context) (x402http.QueuedSettlement, bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), takeTimeout)
	defer cancel()
	now := q.now().UnixMilli()
	var (
		id               int64
		body             []byte
		created, expires int64
		attempts         int
	)
	err := q.pool.QueryRow(ctx, `UPDATE settlement_queue SET due_at = $1, attempts = attempts + 1, updated_at = $2
		WHERE id = (SELECT id FROM settlement_queue WHERE state = 'queued' AND due_at <= $2
			ORDER BY expires_at = 0, expires_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id, request, created_at, expires_at, attempts`,
		now+q.lease.Milliseconds(), now).Scan(&id, &body, &created, &expires, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return x402http.QueuedSettlement{}, false, nil
	}
	if err != nil {
		return x402http.QueuedSettlement{}, false, fmt.Errorf("x402http/pgqueue: %w", err)
	}
	req, err := x402.DecodeFacilitatorRequest(body)
	if err != nil {
		// Unreadable: park it as failed rather than retrying forever.
		_ = q.finish(ctx, id, "failed", "undecodable request: "+err.Error())
		return x402http.QueuedSettlement{}, false, fmt.Errorf("x402http/pgqueue: item %d: %w", id, err)
	}
	return item(id, req, created, expires, attempts), true, nil
}

// item builds a QueuedSettlement from a row.
func item(id int64, req *x402.FacilitatorRequest, created, expires int64, attempts int) x402http.QueuedSettlement {
	it := x402http.QueuedSettlement{ID: strconv.FormatInt(id, 10), Request: req, Claimed: time.UnixMilli(created), Attempts: attempts}
	if expires > 0 {
		it.Expires = time.UnixMilli(expires)
	}
	return it
}

// Backlog reports the queued items: how many, the one that has used the
// largest share of its claim's time, and how many a second were finished
// over the last 10 s by every replica.
func (q *Queue) Backlog(ctx context.Context) (x402http.Backlog, error) {
	now := q.now().UnixMilli()
	var b x402http.Backlog
	var finished int
	if err := q.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'queued'),
		count(*) FILTER (WHERE state IN ('done', 'failed') AND updated_at >= $1) FROM settlement_queue`,
		now-throughputWindow.Milliseconds()).Scan(&b.Queued, &finished); err != nil {
		return b, fmt.Errorf("x402http/pgqueue: %w", err)
	}
	if b.Queued == 0 {
		return b, nil
	}
	b.Throughput = float64(finished) / throughputWindow.Seconds()
	var (
		id, created, expires int64
		attempts             int
	)
	err := q.pool.QueryRow(ctx, `SELECT id, created_at, expires_at, attempts FROM settlement_queue
		WHERE state = 'queued' AND expires_at > created_at
		ORDER BY ($1 - created_at)::float8 / (expires_at - created_at) DESC, id LIMIT 1`, now).Scan(&id, &created, &expires, &attempts)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return b, fmt.Errorf("x402http/pgqueue: %w", err)
	default:
		b.Oldest = item(id, nil, created, expires, attempts)
	}
	return b, nil
}

// Done records an item's outcome: with retry it is due again after a
// backoff growing with its attempts (if still queued); otherwise it is
// kept as done (success) or failed, with the response. A recorded success
// is never overwritten.
func (q *Queue) Done(ctx context.Context, id string, resp *x402.SettleResponse, retry bool) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("x402http/pgqueue: bad id %q", id)
	}
	var respJSON string
	if resp != nil {
		b, _ := json.Marshal(resp)
		respJSON = string(b)
	}
	if !retry {
		state := "failed"
		if resp != nil && resp.Success {
			state = "done"
		}
		return q.finish(ctx, n, state, respJSON)
	}
	var attempts int
	var expires int64
	if err := q.pool.QueryRow(ctx, `SELECT attempts, expires_at FROM settlement_queue WHERE id = $1`, n).Scan(&attempts, &expires); err != nil {
		return fmt.Errorf("x402http/pgqueue: %w", err)
	}
	now := q.now().UnixMilli()
	backoff := retryBackoff(attempts, now, expires)
	if _, err := q.pool.Exec(ctx, `UPDATE settlement_queue SET due_at = $1, response = $2, updated_at = $3 WHERE id = $4 AND state = 'queued'`,
		now+backoff.Milliseconds(), respJSON, now, n); err != nil {
		return fmt.Errorf("x402http/pgqueue: %w", err)
	}
	return nil
}

// retryBackoff is one second doubling with each attempt, up to
// maxBackoff, and never more than half the time the claim has left.
func retryBackoff(attempts int, now, expires int64) time.Duration {
	backoff := min(time.Second<<min(attempts, 20), maxBackoff)
	if expires > 0 {
		backoff = min(backoff, max(time.Duration(expires-now)*time.Millisecond/2, 0))
	}
	return backoff
}

func (q *Queue) finish(ctx context.Context, id int64, state, response string) error {
	if _, err := q.pool.Exec(ctx, `UPDATE settlement_queue SET state = $1, response = $2, updated_at = $3 WHERE id = $4 AND state != 'done'`,
		state, response, q.now().UnixMilli(), id); err != nil {
		return fmt.Errorf("x402http/pgqueue: %w", err)
	}
	return nil
}

// Counts returns how many items are queued, done and failed (claims that
// were not queued are not counted).
func (q *Queue) Counts(ctx context.Context) (queued, done, failed int, err error) {
	err = q.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'queued'), count(*) FILTER (WHERE state = 'done'),
		count(*) FILTER (WHERE state = 'failed') FROM settlement_queue`).Scan(&queued, &done, &failed)
	if err != nil {
		err = fmt.Errorf("x402http/pgqueue: %w", err)
	}
	return queued, done, failed, err
}
