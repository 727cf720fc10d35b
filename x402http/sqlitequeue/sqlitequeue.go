// Package sqlitequeue is a durable settlement queue for x402http's
// serve-then-settle routes, in a SQLite file: a settlement queued before a
// crash or restart is settled when the worker runs again.
//
// Items are leased while a worker settles them; a lease that runs out
// (the worker died) makes the item due again. The due item whose
// authorization expires first is handed out first, leased by one
// statement, so that concurrent workers, in one process or in several
// sharing the file, each get a different one; a retry is never delayed
// past half the time its authorization has left. The queue implements
// x402http.ExpiringQueue: [Queue.Backlog] tells the middleware when the
// queue falls behind. Settling twice is harmless:
// facilitators answer a repeated settle of one authorization with the first
// result.
//
// # Claims
//
// Every row carries the authorization key of its payment under a unique
// index, so that one payment buys one response across restarts and across
// the processes sharing the file: [Queue.Claim] inserts a "claimed" row
// before the handler runs and fails with x402http.ErrDuplicate if the key
// is there already; [Queue.Enqueue] turns the claim into a queued
// settlement; [Queue.Release] deletes a claim whose payment was refused
// before its handler ran. Queued, done and failed rows are kept, so a
// payment that was served stays refused; claims that were never queued
// (settle-before-serve payments, answers that were not charged, or a crash
// before the response) are deleted once their authorization has expired.
//
// A SQLite file is shared by the processes of one host. Servers on several
// hosts need a Queue on a shared database.
package sqlitequeue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Defaults.
const (
	DefaultLease        = 3 * time.Minute
	DefaultPollInterval = 200 * time.Millisecond
	maxBackoff          = 5 * time.Minute
)

// Queue is a durable queue of facilitator settle requests. It implements
// x402http.Queue and is safe for concurrent use.
type Queue struct {
	db     *sql.DB
	lease  time.Duration
	poll   time.Duration
	now    func() time.Time
	notify chan struct{}

	mu    sync.Mutex
	prune time.Time // when expired claims are deleted next
}

// pruneInterval is how often expired claims are deleted.
const pruneInterval = time.Minute

// Config configures [Open]. Path is required.
type Config struct {
	Path string
	// Lease is how long a worker holds an item before another may take
	// it (the worker crashed); if zero, DefaultLease. It should exceed the
	// longest settlement (x402http bounds one at 2 minutes), or a slow
	// settlement is handed to a worker of another process beside it.
	Lease time.Duration
	// PollInterval is how often Next looks for due items; if zero,
	// DefaultPollInterval.
	PollInterval time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Open opens (creating if needed) the queue at cfg.Path.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Path == "" {
		return nil, errors.New("x402http/sqlitequeue: no path")
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+cfg.Path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("x402http/sqlitequeue: %w", err)
	}
	db.SetMaxOpenConns(1) // one writer; serialises access in this process
	err = migrate(ctx, db)
	if err == nil {
		err = migrateResponses(ctx, db)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("x402http/sqlitequeue: creating schema: %w", err)
	}
	lease, poll := cfg.Lease, cfg.PollInterval
	if lease <= 0 {
		lease = DefaultLease
	}
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Queue{db: db, lease: lease, poll: poll, now: now, notify: make(chan struct{}, 1)}, nil
}

// migrate creates the schema, or brings a queue file of an earlier version
// up to date (adding the authorization key and expiry of claims).
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS settlement_queue (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		request BLOB NOT NULL,
		state TEXT NOT NULL DEFAULT 'queued',   -- claimed | queued | done | failed
		attempts INTEGER NOT NULL DEFAULT 0,
		due_at INTEGER NOT NULL,                -- unix ms: when it may be (re)tried
		response TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	)`); err != nil {
		return err
	}
	cols := map[string]bool{}
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info('settlement_queue')`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		cols[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range []struct{ name, def string }{
		{"auth_key", "TEXT"},                         // the payment's authorization key; NULL in rows of earlier versions
		{"expires_at", "INTEGER NOT NULL DEFAULT 0"}, // unix ms: when the authorization expires
	} {
		if !cols[c.name] {
			if _, err := db.ExecContext(ctx, `ALTER TABLE settlement_queue ADD COLUMN `+c.name+` `+c.def); err != nil {
				return err
			}
		}
	}
	_, err = db.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS settlement_queue_due ON settlement_queue(state, due_at);
	CREATE UNIQUE INDEX IF NOT EXISTS settlement_queue_key ON settlement_queue(auth_key);
	CREATE INDEX IF NOT EXISTS settlement_queue_finished ON settlement_queue(state, updated_at);`)
	return err
}

// Close closes the database.
func (q *Queue) Close() error { return q.db.Close() }

// Ping checks that the database answers (GET /ready of the gateway).
func (q *Queue) Ping(ctx context.Context) error {
	var one int
	return q.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// errDuplicate is the error of a key that is taken.
var errDuplicate = fmt.Errorf("x402http/sqlitequeue: %w", x402http.ErrDuplicate)

// Claim records that the payment authorization key is used for one
// response until the given time. It fails with an error wrapping
// x402http.ErrDuplicate if key was claimed or queued before and not
// released.
func (q *Queue) Claim(ctx context.Context, key string, until time.Time) error {
	if key == "" {
		return errors.New("x402http/sqlitequeue: empty authorization key")
	}
	now := q.now()
	q.pruneClaims(ctx, now)
	ms := now.UnixMilli()
	res, err := q.db.ExecContext(ctx, `INSERT INTO settlement_queue(auth_key, request, state, due_at, expires_at, created_at, updated_at)
		VALUES (?, x'', 'claimed', 0, ?, ?, ?) ON CONFLICT(auth_key) DO NOTHING`, key, until.UnixMilli(), ms, ms)
	if err != nil {
		return fmt.Errorf("x402http/sqlitequeue: claim: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("x402http/sqlitequeue: claim: %w", err)
	} else if n == 0 {
		return errDuplicate
	}
	return nil
}

// pruneClaims deletes, at most once per pruneInterval, the claims that were
// never queued and whose authorization has expired: such a payment can no
// longer be verified, so its key is no longer needed.
func (q *Queue) pruneClaims(ctx context.Context, now time.Time) {
	q.mu.Lock()
	due := now.After(q.prune)
	if due {
		q.prune = now.Add(pruneInterval)
	}
	q.mu.Unlock()
	if due {
		// Best effort: a failure only delays the clean-up.
		_, _ = q.db.ExecContext(ctx, `DELETE FROM settlement_queue WHERE state = 'claimed' AND expires_at < ?`, now.Add(-time.Minute).UnixMilli())
	}
}

// Release deletes the claim of key if it was not queued.
func (q *Queue) Release(ctx context.Context, key string) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM settlement_queue WHERE auth_key = ? AND state = 'claimed'`, key); err != nil {
		return fmt.Errorf("x402http/sqlitequeue: release: %w", err)
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
		return fmt.Errorf("x402http/sqlitequeue: encoding request: %w", err)
	}
	now := q.now().UnixMilli()
	var dbKey any
	if key != "" {
		dbKey = key
		res, err := q.db.ExecContext(ctx, `UPDATE settlement_queue SET request = ?, state = 'queued', due_at = ?, updated_at = ? WHERE auth_key = ? AND state = 'claimed'`, body, now, now, key)
		if err != nil {
			return fmt.Errorf("x402http/sqlitequeue: enqueue: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("x402http/sqlitequeue: enqueue: %w", err)
		} else if n == 1 {
			q.wake()
			return nil
		}
	}
	res, err := q.db.ExecContext(ctx, `INSERT INTO settlement_queue(auth_key, request, due_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(auth_key) DO NOTHING`, dbKey, body, now, now, now)
	if err != nil {
		return fmt.Errorf("x402http/sqlitequeue: enqueue: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("x402http/sqlitequeue: enqueue: %w", err)
	} else if n == 0 {
		return errDuplicate
	}
	q.wake()
	return nil
}

// wake tells a waiting Next that an item is due.
func (q *Queue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// Next waits for a due item, leases it, and returns it: the most urgent
// one (see [Queue.NextSettlement]).
func (q *Queue) Next(ctx context.Context) (string, *x402.FacilitatorRequest, error) {
	it, err := q.NextSettlement(ctx)
	if err != nil {
		return "", nil, err
	}
	return it.ID, it.Request, nil
}

// NextSettlement waits for a due item, leases it, and returns it with its
// deadline: of the due items, the one whose claim ends first (items
// without a known end, queued by an earlier version or without a claim,
// come last). It is safe for concurrent callers and for several processes
// sharing the file: an item is leased by one statement, so one caller
// gets it.
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

// urgency orders queued items: the earliest end of claim first, unknown
// ends last, then in queue order.
const urgency = `ORDER BY expires_at = 0, expires_at, id`

// take leases the most urgent due item, if any, in one statement: a
// write, which SQLite serialises across connections and processes. The
// statement is not cut short by ctx: an item leased by it is returned,
// not left leased to no one until its lease runs out.
func (q *Queue) take(ctx context.Context) (x402http.QueuedSettlement, bool, error) {
	ctx = context.WithoutCancel(ctx)
	now := q.now().UnixMilli()
	var (
		id               int64
		body             []byte
		created, expires int64
		attempts         int
	)
	// The lease: not due again until it runs out.
	err := q.db.QueryRowContext(ctx, `UPDATE settlement_queue SET due_at = ?, attempts = attempts + 1, updated_at = ?
		WHERE id = (SELECT id FROM settlement_queue WHERE state = 'queued' AND due_at <= ? `+urgency+` LIMIT 1)
		RETURNING id, request, created_at, expires_at, attempts`,
		now+q.lease.Milliseconds(), now, now).Scan(&id, &body, &created, &expires, &attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return x402http.QueuedSettlement{}, false, nil
	}
	if err != nil {
		return x402http.QueuedSettlement{}, false, fmt.Errorf("x402http/sqlitequeue: %w", err)
	}
	req, err := x402.DecodeFacilitatorRequest(body)
	if err != nil {
		// Unreadable: park it as failed rather than retrying forever.
		_ = q.finish(ctx, id, "failed", "undecodable request: "+err.Error())
		return x402http.QueuedSettlement{}, false, fmt.Errorf("x402http/sqlitequeue: item %d: %w", id, err)
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

// throughputWindow is how far back Backlog counts finished items.
const throughputWindow = 10 * time.Second

// Backlog reports the queued items: how many, the one that has used the
// largest share of its claim's time (from its claim to its end), and how
// many items a second were finished (settled or failed) over the last
// 10 s, by every process sharing the file.
func (q *Queue) Backlog(ctx context.Context) (x402http.Backlog, error) {
	now := q.now().UnixMilli()
	var b x402http.Backlog
	if err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM settlement_queue WHERE state = 'queued'`).Scan(&b.Queued); err != nil {
		return b, fmt.Errorf("x402http/sqlitequeue: %w", err)
	}
	if b.Queued == 0 {
		return b, nil
	}
	var finished int
	if err := q.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM settlement_queue WHERE state IN ('done', 'failed') AND updated_at >= ?`,
		now-throughputWindow.Milliseconds()).Scan(&finished); err != nil {
		return b, fmt.Errorf("x402http/sqlitequeue: %w", err)
	}
	b.Throughput = float64(finished) / throughputWindow.Seconds()
	var (
		id, created, expires int64
		attempts             int
	)
	err := q.db.QueryRowContext(ctx, `SELECT id, created_at, expires_at, attempts FROM settlement_queue
		WHERE state = 'queued' AND expires_at > created_at
		ORDER BY CAST(? - created_at AS REAL) / (expires_at - created_at) DESC, id LIMIT 1`, now).Scan(&id, &created, &expires, &attempts)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return b, fmt.Errorf("x402http/sqlitequeue: %w", err)
	default:
		b.Oldest = item(id, nil, created, expires, attempts)
	}
	return b, nil
}

// Done records an item's outcome: with retry it is due again after a
// backoff growing with its attempts; otherwise it is kept as done (success)
// or failed, with the response, for the record.
func (q *Queue) Done(ctx context.Context, id string, resp *x402.SettleResponse, retry bool) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("x402http/sqlitequeue: bad id %q", id)
	}
	var respJSON string
	if resp != nil {
		b, _ := json.Marshal(resp)
		respJSON = string(b)
	}
	if retry {
		var attempts int
		var expires int64
		if err := q.db.QueryRowContext(ctx, `SELECT attempts, expires_at FROM settlement_queue WHERE id = ?`, n).Scan(&attempts, &expires); err != nil {
			return fmt.Errorf("x402http/sqlitequeue: %w", err)
		}
		now := q.now().UnixMilli()
		backoff := retryBackoff(attempts, now, expires)
		// Only a queued item is retried: a second worker whose lease ran out
		// must not reopen an item another worker finished.
		_, err := q.db.ExecContext(ctx, `UPDATE settlement_queue SET due_at = ?, response = ?, updated_at = ? WHERE id = ? AND state = 'queued'`, now+backoff.Milliseconds(), respJSON, now, n)
		return err
	}
	state := "failed"
	if resp != nil && resp.Success {
		state = "done"
	}
	return q.finish(ctx, n, state, respJSON)
}

// retryBackoff is how long an item waits before its next attempt: one
// second doubling with each attempt, up to maxBackoff, and never more
// than half the time its claim has left (now and expires in unix ms;
// expires 0 if unknown), so that an item is tried again while it can
// still be settled.
func retryBackoff(attempts int, now, expires int64) time.Duration {
	backoff := min(time.Second<<min(attempts, 20), maxBackoff)
	if expires > 0 {
		backoff = min(backoff, max(time.Duration(expires-now)*time.Millisecond/2, 0))
	}
	return backoff
}

func (q *Queue) finish(ctx context.Context, id int64, state, response string) error {
	// A recorded success is final: a late outcome from an expired lease
	// (typically "nonce already used" after the first worker's success)
	// never overwrites it.
	_, err := q.db.ExecContext(ctx, `UPDATE settlement_queue SET state = ?, response = ?, updated_at = ? WHERE id = ? AND state != 'done'`, state, response, q.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("x402http/sqlitequeue: %w", err)
	}
	return nil
}

// Counts returns how many items are queued, done and failed (claims that
// were not queued are not counted).
func (q *Queue) Counts(ctx context.Context) (queued, done, failed int, err error) {
	rows, err := q.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM settlement_queue GROUP BY state`)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("x402http/sqlitequeue: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return 0, 0, 0, err
		}
		switch state {
		case "queued":
			queued = n
		case "done":
			done = n
		case "failed":
			failed = n
		}
	}
	return queued, done, failed, rows.Err()
}
