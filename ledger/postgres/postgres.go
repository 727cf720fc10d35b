// Package postgres implements [ledger.Store] on PostgreSQL, for several
// facilitator processes sharing one ledger. It uses pgx (a pgxpool pool).
//
// The package owns the PostgreSQL schema (the versioned migrations embedded
// from its migrations directory, applied by [Open]) and the statements that
// keep every authorization settled at most once across processes: the
// settlements primary key on (network, asset, payer, nonce) decides every
// [Store.Claim], updates are compare-and-set on the status (and, when the
// caller names it, on the claim id), and a release is a compare-and-delete:
// it deletes a claim only while it is still settling and still records the
// transaction hash the caller names (the one it established cannot be
// mined, or "" when none was recorded), and, when the caller names one,
// only its own claim. Nothing relies on process memory.
//
// When a call's context ends while its statement runs, the store asks the
// server to cancel the statement, which rolls it back, and the call returns
// an error wrapping the context's error. As with any database, a statement
// that finished just before the cancel may still have taken effect: after
// such an error, read the settlement again (Get) rather than assume.
//
// Events of concurrent [Store.Record] calls are written together (group
// commit): the first caller to find no event write under way sends every
// event queued meanwhile (at most Config.MaxEventBatch) as one pipelined
// batch, which the server runs as one implicit transaction, all or none,
// with one commit; each caller returns only once that commit is done. An
// event the server refuses for its content (such as a NUL byte in a text
// field) fails alone: the others are sent again without it. Settlement
// writes are never batched.
//
// [Store.Reserve] runs in a transaction holding a transaction-scoped
// advisory lock on the payer (network, asset, payer), so that checking the
// payer's free funds and inserting the reservation are one step across
// every process sharing the database. Update to a final status and Release
// delete the key's reservation in the same statement.
//
// Times come from the database clock, except an event's Time set by the
// caller, and are kept to the microsecond.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/internal/groupcommit"
	"github.com/go402/go402/ledger/internal/migration"
	"github.com/go402/go402/x402"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// claimAttempts bounds how often Claim retries when the row that blocked
// its insert was released before it could be read.
const claimAttempts = 10

// cancelGrace is how long a call whose context ended waits for the server
// to cancel its statement before closing the connection.
const cancelGrace = time.Second

// DefaultMaxEventBatch is, by default, the most events written in one
// transaction (see Config.MaxEventBatch).
const DefaultMaxEventBatch = groupcommit.DefaultLimit

// Config configures [Open].
type Config struct {
	// URL is the connection string, a URL (postgres://user@host/db?...)
	// or key=value pairs, as accepted by pgxpool.ParseConfig, pool
	// settings (pool_max_conns...) included. Required.
	URL string
	// Schema, if set, is the schema holding the ledger's tables: it is
	// created if missing and set as the search_path of every connection.
	// If empty, the tables go in the first schema of the connection's
	// search_path (normally public).
	Schema string
	// MaxConns caps the pool's connections; 0 keeps pgxpool's default (or
	// the URL's pool_max_conns).
	MaxConns int32
	// Logger receives migration messages; nil discards them.
	Logger *slog.Logger
	// MaxEventBatch bounds how many events of concurrent Record calls are
	// written in one transaction; 0 means DefaultMaxEventBatch, and 1
	// writes each event in its own transaction.
	MaxEventBatch int
}

// Store is a [ledger.Store] in a PostgreSQL database. It is safe for
// concurrent use, and any number of Stores, in any number of processes,
// may share one database (and schema).
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	events *groupcommit.Group[*ledger.Event]

	closeOnce sync.Once
}

var _ ledger.Store = (*Store)(nil)

// Open connects to the database of cfg.URL and applies the schema
// migrations it lacks. Concurrent Opens against one database are
// serialised by a transaction-scoped advisory lock, so each migration is
// applied once.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("ledger/postgres: no database URL")
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// The error may quote the URL, password included; do not wrap it.
		return nil, errors.New("ledger/postgres: cannot parse the database URL")
	}
	if cfg.Schema != "" {
		pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{cfg.Schema}.Sanitize()
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	// When a call's context ends, ask the server to cancel the statement
	// (which rolls it back) rather than only dropping the connection, which
	// would leave the statement running, and committing, on the server.
	// If the server does not answer, the connection is closed after
	// cancelGrace.
	pc.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("ledger/postgres: open: %w", err)
	}
	s := &Store{pool: pool, log: log}
	s.events = groupcommit.New(cfg.MaxEventBatch, s.writeEvents)
	if err := s.migrate(ctx, cfg.Schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ledger/postgres: open: %w", err)
	}
	return s, nil
}

// Close closes the pool, waiting for connections in use to be returned.
// It may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

// migrate applies the pending migrations in one transaction holding an
// advisory lock on the schema, so that concurrent Opens neither race on
// CREATE TABLE nor apply a migration twice.
func (s *Store) migrate(ctx context.Context, schema string) error {
	all, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }() // a no-op after Commit

	h := fnv.New64a()
	h.Write([]byte("go402/ledger/postgres migrate " + schema))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(h.Sum64())); err != nil {
		return fmt.Errorf("migrate: taking the migration lock: %w", err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return fmt.Errorf("migrate: creating schema %s: %w", schema, err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT statement_timestamp()
	)`); err != nil {
		return fmt.Errorf("migrate: creating schema_migrations: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: reading schema_migrations: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return fmt.Errorf("migrate: reading schema_migrations: %w", err)
	}
	if v := migration.Newest(all, applied); v != 0 {
		return fmt.Errorf("migrate: %w: it is at version %d, this build knows versions up to %d; run the go402 that migrated it, or a newer one",
			ledger.ErrSchemaTooNew, v, all[len(all)-1].Version)
	}
	for _, m := range migration.Pending(all, applied) {
		// Without arguments, Exec uses the simple protocol, which runs a
		// script of several statements.
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: applying %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version); err != nil {
			return fmt.Errorf("migrate: recording %s: %w", m.Name, err)
		}
		s.log.InfoContext(ctx, "ledger/postgres: applied migration", "migration", m.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

const settlementColumns = `network, asset, payer, nonce, fingerprint, status, tx_hash,
	response, request, scheme, version, pay_to, amount, resource, owner, claim_id, created_at, updated_at`

const whereKey = ` WHERE network = $1 AND asset = $2 AND payer = $3 AND nonce = $4`

func keyArgs(k x402.SettlementKey) []any {
	return []any{string(k.Network), k.Asset, k.Payer, k.Nonce}
}

// Claim creates st with status settling unless its key is taken; see
// [ledger.Store.Claim]. The insert is INSERT ... ON CONFLICT (key) DO
// NOTHING: the primary key lets exactly one of any number of concurrent
// claims, from any process, insert the row; the others wait for that
// transaction and insert nothing, and then read the row it committed. On
// success Claim sets st.Status, st.CreatedAt and st.UpdatedAt to what was
// stored.
func (s *Store) Claim(ctx context.Context, st *ledger.Settlement) (*ledger.Settlement, bool, error) {
	if st == nil {
		return nil, false, errors.New("ledger/postgres: claim: nil settlement")
	}
	resp, err := encodeResponse(st.Response)
	if err != nil {
		return nil, false, fmt.Errorf("ledger/postgres: claim: %w", err)
	}
	args := append(keyArgs(st.Key), st.Fingerprint, string(ledger.StatusSettling), st.TxHash,
		resp, bytea(st.Request), st.Scheme, st.Version, st.PayTo, st.Amount, st.Resource, st.Owner, st.ClaimID)
	for range claimAttempts {
		var created time.Time
		err := s.pool.QueryRow(ctx, `INSERT INTO settlements (`+settlementColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
				statement_timestamp(), statement_timestamp())
			ON CONFLICT (network, asset, payer, nonce) DO NOTHING
			RETURNING created_at`, args...).Scan(&created)
		if err == nil {
			st.Status = ledger.StatusSettling
			st.CreatedAt = created.UTC()
			st.UpdatedAt = st.CreatedAt
			return nil, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, false, fail(ctx, "claim", err)
		}
		// The key is taken: read the row that holds it.
		existing, err := s.Get(ctx, st.Key)
		if err == nil {
			return existing, false, nil
		}
		if !errors.Is(err, ledger.ErrNotFound) {
			return nil, false, err
		}
		// Released between the insert and the read: try again.
		s.log.DebugContext(ctx, "ledger/postgres: claim raced with a release; retrying", "key", keyString(st.Key))
	}
	return nil, false, fmt.Errorf("ledger/postgres: claim %s: the key was claimed and released %d times meanwhile",
		keyString(st.Key), claimAttempts)
}

// Get returns the settlement of key, or an error wrapping
// [ledger.ErrNotFound].
func (s *Store) Get(ctx context.Context, key x402.SettlementKey) (*ledger.Settlement, error) {
	st, err := scanSettlement(s.pool.QueryRow(ctx,
		`SELECT `+settlementColumns+` FROM settlements`+whereKey, keyArgs(key)...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound(key)
	}
	if err != nil {
		return nil, fail(ctx, "get", err)
	}
	return st, nil
}

// Update applies u if the settlement's status is u.From; see
// [ledger.Store.Update]. It is one statement: a compare-and-set UPDATE and,
// in the same snapshot, whether the key exists, to tell ErrConflict from
// ErrNotFound. UpdatedAt always advances, by a microsecond if the clock did
// not. An update to a final status deletes the key's reservation in the
// same statement.
func (s *Store) Update(ctx context.Context, key x402.SettlementKey, u ledger.Update) error {
	resp, err := encodeResponse(u.Response)
	if err != nil {
		return fail(ctx, "update", err)
	}
	var changed, exists bool
	err = s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE settlements SET
				status = $6,
				tx_hash = CASE WHEN $7::text = '' THEN tx_hash ELSE $7::text END,
				response = COALESCE($8::json, response),
				updated_at = GREATEST(statement_timestamp(), updated_at + interval '1 microsecond')
			`+whereKey+` AND status = $5 AND ($9::text = '' OR claim_id = $9::text)
			RETURNING 1
		), d AS (
			DELETE FROM reservations`+whereKey+` AND $6 IN ('settled', 'failed') AND EXISTS (SELECT 1 FROM u)
			RETURNING amount
		), h AS (`+subtractHeld("d")+`)
		SELECT EXISTS (SELECT 1 FROM u), EXISTS (SELECT 1 FROM settlements`+whereKey+`)`,
		append(keyArgs(key), string(u.From), string(u.Status), u.TxHash, resp, u.ClaimID)...).Scan(&changed, &exists)
	if err != nil {
		return fail(ctx, "update", err)
	}
	return outcome(key, changed, exists)
}

// Release deletes a settling claim whose recorded transaction is txHash
// (and whose claim id is claimID, if set), and the key's reservation in
// the same statement; see [ledger.Store.Release]. It returns an error
// wrapping [ledger.ErrConflict] if the settlement is past settling,
// records another transaction or is another claim, and one wrapping
// [ledger.ErrNotFound] if there is no settlement.
func (s *Store) Release(ctx context.Context, key x402.SettlementKey, txHash, claimID string) error {
	var deleted, exists bool
	err := s.pool.QueryRow(ctx, `WITH d AS (
			DELETE FROM settlements`+whereKey+` AND status = 'settling' AND tx_hash = $5
				AND ($6::text = '' OR claim_id = $6::text)
			RETURNING 1
		), r AS (
			DELETE FROM reservations`+whereKey+` AND EXISTS (SELECT 1 FROM d)
			RETURNING amount
		), h AS (`+subtractHeld("r")+`)
		SELECT EXISTS (SELECT 1 FROM d), EXISTS (SELECT 1 FROM settlements`+whereKey+`)`,
		append(keyArgs(key), txHash, claimID)...).Scan(&deleted, &exists)
	if err != nil {
		return fail(ctx, "release", err)
	}
	return outcome(key, deleted, exists)
}

// subtractHeld is a statement, for a WITH clause, subtracting the
// reservation the CTE named deleted deleted (if any) from the key's
// payer's running total.
func subtractHeld(deleted string) string {
	return `UPDATE reservation_holds SET held = held - (SELECT SUM(` + amountSQL + `) FROM ` + deleted + `)
		WHERE network = $1 AND asset = $2 AND payer = $3 AND EXISTS (SELECT 1 FROM ` + deleted + `)`
}

// outcome is the result of a conditional change: nil if a row changed,
// else ErrConflict if the key exists and ErrNotFound if not.
func outcome(key x402.SettlementKey, changed, exists bool) error {
	switch {
	case changed:
		return nil
	case exists:
		return fmt.Errorf("%w: %s", ledger.ErrConflict, keyString(key))
	default:
		return notFound(key)
	}
}

// Unfinished returns the settlements in status settling or pending, oldest
// first.
func (s *Store) Unfinished(ctx context.Context) ([]*ledger.Settlement, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+settlementColumns+` FROM settlements
		WHERE status IN ('settling', 'pending')
		ORDER BY created_at, network, asset, payer, nonce`)
	if err != nil {
		return nil, fail(ctx, "unfinished", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*ledger.Settlement, error) {
		return scanSettlement(r)
	})
	if err != nil {
		return nil, fail(ctx, "unfinished", err)
	}
	return out, nil
}

const eventColumns = `id, "time", kind, version, scheme, network, asset, payer, pay_to,
	amount, resource, tx_hash, status, reason, message`

// Record appends e to the event log, and returns once it is committed.
// It sets e.ID, and e.Time (from the database clock) when it is zero. The
// events of concurrent calls are written in one transaction (see the
// package documentation).
func (s *Store) Record(ctx context.Context, e *ledger.Event) error {
	if e == nil {
		return errors.New("ledger/postgres: record: nil event")
	}
	if err := s.events.Do(ctx, e); err != nil {
		return fail(ctx, "record", err)
	}
	return nil
}

const insertEvent = `INSERT INTO events ("time", kind, version, scheme, network,
		asset, payer, pay_to, amount, resource, tx_hash, status, reason, message)
	VALUES (COALESCE($1::timestamptz, statement_timestamp()), $2, $3, $4, $5, $6, $7, $8,
		$9, $10, $11, $12, $13, $14)
	RETURNING id, "time"`

// writeEvents writes a batch of events, in order, as one pipelined batch
// of inserts: one round trip, run by the server as one implicit
// transaction (pgx sends a single Sync after the last statement), so that
// either every event is committed or none is. It sets the events' IDs (and
// zero Times) once committed.
func (s *Store) writeEvents(ctx context.Context, evs []*ledger.Event) error {
	b := &pgx.Batch{}
	for _, e := range evs {
		queueEvent(b, e)
	}
	ids := make([]int64, len(evs))
	times := make([]time.Time, len(evs))
	br := s.pool.SendBatch(ctx, b)
	for i := range evs {
		if err := br.QueryRow().Scan(&ids[i], &times[i]); err != nil {
			_ = br.Close()
			// The first error is the failing statement's; the implicit
			// transaction rolled back the statements before it.
			if refusesRow(err) {
				return &groupcommit.ItemError{Index: i, Err: err}
			}
			return err
		}
	}
	if err := br.Close(); err != nil {
		return err
	}
	for i, e := range evs {
		e.ID = ids[i]
		if e.Time.IsZero() {
			e.Time = times[i].UTC()
		}
	}
	return nil
}

// queueEvent queues the insert of e, which returns its id and time.
func queueEvent(b *pgx.Batch, e *ledger.Event) {
	var t any // NULL: the database's time
	if !e.Time.IsZero() {
		t = e.Time
	}
	b.Queue(insertEvent, t, string(e.Kind), e.Version, e.Scheme, string(e.Network), e.Asset,
		e.Payer, e.PayTo, e.Amount, e.Resource, e.TxHash, e.Status, string(e.Reason), e.Message)
}

// refusesRow reports whether err is the server refusing one row for its
// content: a data exception (class 22: a NUL byte or invalid UTF-8 in a
// text, a value out of range) or an integrity constraint violation (class
// 23), rather than a failure of the database or the connection.
func refusesRow(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// Events returns the events that f selects, newest first.
func (s *Store) Events(ctx context.Context, f ledger.EventFilter) ([]*ledger.Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events`
	var conds []string
	var args []any
	if f.Kind != "" {
		args = append(args, string(f.Kind))
		conds = append(conds, "kind = $"+strconv.Itoa(len(args)))
	}
	if f.Payer != "" {
		args = append(args, f.Payer)
		conds = append(conds, "payer = $"+strconv.Itoa(len(args)))
	}
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	q += ` ORDER BY "time" DESC, id DESC LIMIT $` + strconv.Itoa(len(args))

	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fail(ctx, "events", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*ledger.Event, error) {
		var e ledger.Event
		var kind, network, reason string
		if err := r.Scan(&e.ID, &e.Time, &kind, &e.Version, &e.Scheme, &network, &e.Asset,
			&e.Payer, &e.PayTo, &e.Amount, &e.Resource, &e.TxHash, &e.Status, &reason,
			&e.Message); err != nil {
			return nil, err
		}
		e.Time = e.Time.UTC()
		e.Kind = ledger.EventKind(kind)
		e.Network = x402.Network(network)
		e.Reason = x402.Reason(reason)
		return &e, nil
	})
	if err != nil {
		return nil, fail(ctx, "events", err)
	}
	return out, nil
}

// scanSettlement reads one row of settlementColumns.
func scanSettlement(row pgx.Row) (*ledger.Settlement, error) {
	var st ledger.Settlement
	var network, status string
	var resp, req []byte
	if err := row.Scan(&network, &st.Key.Asset, &st.Key.Payer, &st.Key.Nonce, &st.Fingerprint,
		&status, &st.TxHash, &resp, &req, &st.Scheme, &st.Version, &st.PayTo, &st.Amount,
		&st.Resource, &st.Owner, &st.ClaimID, &st.CreatedAt, &st.UpdatedAt); err != nil {
		return nil, err
	}
	st.Key.Network = x402.Network(network)
	st.Status = ledger.Status(status)
	if resp != nil {
		st.Response = new(x402.SettleResponse)
		if err := json.Unmarshal(resp, st.Response); err != nil {
			return nil, fmt.Errorf("decoding the stored response of %s: %w", keyString(st.Key), err)
		}
	}
	if len(req) > 0 {
		st.Request = req
	}
	st.CreatedAt = st.CreatedAt.UTC()
	st.UpdatedAt = st.UpdatedAt.UTC()
	return &st, nil
}

// encodeResponse returns r as JSON text, or nil (NULL) for nil.
func encodeResponse(r *x402.SettleResponse) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encoding the response: %w", err)
	}
	return string(b), nil
}

// bytea returns b for a bytea column, nil (NULL) when empty.
func bytea(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// fail wraps err from operation op, making sure a done context is visible
// to errors.Is even when the server reported it as a cancelled statement.
func fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("ledger/postgres: %s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("ledger/postgres: %s: %w", op, err)
}

func notFound(key x402.SettlementKey) error {
	return fmt.Errorf("%w: %s", ledger.ErrNotFound, keyString(key))
}

func keyString(k x402.SettlementKey) string {
	return fmt.Sprintf("network=%s asset=%s payer=%s nonce=%s", k.Network, k.Asset, k.Payer, k.Nonce)
}
