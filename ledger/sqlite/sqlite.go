// Package sqlite is the embedded, default implementation of [ledger.Store]:
// the facilitator's settlement table and event log in one SQLite database
// file, with no server to run. It uses the pure-Go driver modernc.org/sqlite,
// so no cgo is needed.
//
// The package owns the SQLite schema (the versioned migrations embedded from
// its migrations directory, applied by [Open]), the connection settings, and
// the rules that make a claim atomic. Several [Store] values, in one process
// or in several, may open the same file: SQLite's write lock and the
// settlements primary key keep every authorization settled at most once.
//
// # Connections and PRAGMAs
//
// Every connection is opened with these PRAGMAs, set through the DSN so that
// each pooled connection gets them, not only the first:
//
//   - journal_mode=WAL: readers never block the writer nor the writer the
//     readers, and a commit appends to the log instead of rewriting pages.
//   - synchronous=FULL: each commit is synced to disk before it returns. In
//     WAL mode NORMAL is safe against corruption but may lose the last
//     commits on power failure; here a commit records a claim or the hash of
//     a transaction about to be broadcast, and losing it after the money
//     moved would leave the ledger unaware of a payment. One fsync per
//     commit is the price; for events it is shared (see below).
//   - busy_timeout (5 s by default): a write that finds another process
//     holding the write lock waits for it instead of failing at once with
//     "database is locked". The wait ends early when the call's context is
//     done.
//   - foreign_keys=ON: enforce any foreign keys later migrations add.
//
// Writes go through a pool of one connection, and each write transaction
// begins with BEGIN IMMEDIATE, which takes the write lock up front: within a
// process writers queue in Go, and between processes they wait on the lock
// with busy_timeout, so a transaction never has to upgrade a read lock (the
// case in which SQLite answers SQLITE_BUSY without waiting). A write that
// still fails with SQLITE_BUSY is retried a few times. Reads use a separate
// pool of read-only (query_only) connections, which in WAL mode run
// alongside the writer.
//
// # Events: group commit
//
// Every verify and settle appends an event, so events are most of the
// writes, and with one transaction each the fsync of every commit would
// bound the facilitator's throughput. [Store.Record] therefore commits the
// events of concurrent calls together: the first caller to find no event
// commit under way writes every event queued meanwhile (at most
// Config.MaxEventBatch) in one transaction, and each caller returns only
// once the transaction holding its event is committed, so an event is on
// disk when Record returns, as before. A lone Record waits for nobody.
// Settlement writes (Claim, Update, Release) are never batched: each is its
// own transaction, committed before the call returns.
//
// Times are kept to the microsecond, in UTC.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/internal/groupcommit"
	"github.com/go402/go402/ledger/internal/migration"
	"github.com/go402/go402/x402"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DefaultBusyTimeout is how long a write waits, by default, for another
// connection holding the database's write lock.
const DefaultBusyTimeout = 5 * time.Second

// busyRetries is how many times a write transaction that failed with
// SQLITE_BUSY is run again, after busy_timeout already waited.
const busyRetries = 3

// DefaultMaxEventBatch is, by default, the most events written in one
// transaction (see Config.MaxEventBatch).
const DefaultMaxEventBatch = groupcommit.DefaultLimit

// Config configures [Open].
type Config struct {
	// Path is the database file, created if it does not exist. Required.
	// It must be a plain file path: ":memory:", "file:" URIs and names
	// holding '?' are refused (the store opens several connections, which
	// must all reach the same database).
	Path string
	// BusyTimeout is how long a write waits for another process holding
	// the write lock; 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// Logger receives migration and retry messages; nil discards them.
	Logger *slog.Logger
	// MaxEventBatch bounds how many events of concurrent Record calls are
	// written in one transaction; 0 means DefaultMaxEventBatch, and 1
	// writes each event in its own transaction.
	MaxEventBatch int
}

// Store is a [ledger.Store] in a SQLite database file. It is safe for
// concurrent use, and several Stores (in one process or several) may share
// one file.
type Store struct {
	w      *sql.DB // one connection; every write goes through it
	r      *sql.DB // read-only connections
	log    *slog.Logger
	events *groupcommit.Group[*ledger.Event]

	closeOnce sync.Once
	closeErr  error
}

var _ ledger.Store = (*Store)(nil)

// Open opens, and creates if needed, the database at cfg.Path, and applies
// the schema migrations it lacks.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	switch {
	case cfg.Path == "":
		return nil, errors.New("ledger/sqlite: no database path")
	case cfg.Path == ":memory:", strings.HasPrefix(cfg.Path, "file:"), strings.Contains(cfg.Path, "?"):
		return nil, fmt.Errorf("ledger/sqlite: database path %q: want a plain file path", cfg.Path)
	}
	busy := cfg.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	w, err := sql.Open("sqlite", dsn(cfg.Path, busy, true))
	if err != nil {
		return nil, fmt.Errorf("ledger/sqlite: open %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	s := &Store{w: w, log: log}
	s.events = groupcommit.New(cfg.MaxEventBatch, s.writeEvents)
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("ledger/sqlite: open %s: %w", cfg.Path, err)
	}

	// Opened after the writer put the file in WAL mode (a read-only
	// connection could not).
	r, err := sql.Open("sqlite", dsn(cfg.Path, busy, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("ledger/sqlite: open %s: %w", cfg.Path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("ledger/sqlite: open %s: %w", cfg.Path, err)
	}
	s.r = r
	return s, nil
}

// dsn returns the data source name of path for the writer or a reader.
func dsn(path string, busy time.Duration, write bool) string {
	var b strings.Builder
	b.WriteString(path)
	b.WriteString("?_pragma=busy_timeout(")
	b.WriteString(strconv.FormatInt(busy.Milliseconds(), 10))
	b.WriteString(")&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)")
	if write {
		b.WriteString("&_txlock=immediate")
	} else {
		b.WriteString("&_query_only=1")
	}
	return b.String()
}

// Close closes the database. It may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		errs = append(errs, s.w.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("ledger/sqlite: close: %w", err)
		}
	})
	return s.closeErr
}

// migrate applies the pending migrations in one IMMEDIATE transaction, so
// that two processes opening a new file concurrently apply them once.
func (s *Store) migrate(ctx context.Context) error {
	all, err := migration.Load(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return fmt.Errorf("creating schema_migrations: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		var applied []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("reading schema_migrations: %w", err)
			}
			applied = append(applied, v)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		if v := migration.Newest(all, applied); v != 0 {
			return fmt.Errorf("%w: it is at version %d, this build knows versions up to %d; run the go402 that migrated it, or a newer one",
				ledger.ErrSchemaTooNew, v, all[len(all)-1].Version)
		}
		for _, m := range migration.Pending(all, applied) {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.Version, micros(time.Now())); err != nil {
				return fmt.Errorf("recording migration %s: %w", m.Name, err)
			}
			s.log.InfoContext(ctx, "ledger/sqlite: applied migration", "migration", m.Name)
		}
		return nil
	})
}

// write runs fn in a write transaction (BEGIN IMMEDIATE) and commits it,
// running it again if the database stayed busy past busy_timeout. fn may
// run more than once and must not keep state across runs.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		if err == nil || !isBusy(err) || attempt > busyRetries || ctx.Err() != nil {
			return err
		}
		s.log.WarnContext(ctx, "ledger/sqlite: database busy; retrying", "attempt", attempt, "err", err)
		t := time.NewTimer(time.Duration(attempt) * 20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var e *msqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// fail wraps err from operation op, making sure a done context is visible
// to errors.Is even when the driver reports it as an interrupt.
func fail(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("ledger/sqlite: %s: %w: %w", op, cerr, err)
	}
	return fmt.Errorf("ledger/sqlite: %s: %w", op, err)
}

const settlementColumns = `network, asset, payer, nonce, fingerprint, status, tx_hash,
	response, request, scheme, version, pay_to, amount, resource, owner, claim_id, created_at, updated_at`

const whereKey = ` WHERE network = ? AND asset = ? AND payer = ? AND nonce = ?`

func keyArgs(k x402.SettlementKey) []any {
	return []any{string(k.Network), k.Asset, k.Payer, k.Nonce}
}

// Claim creates st with status settling unless its key is taken; see
// [ledger.Store.Claim]. The settlements primary key decides: the row is
// inserted with INSERT ... ON CONFLICT DO NOTHING and, when nothing was
// inserted, the existing row is read in the same write transaction. On
// success Claim sets st.Status, st.CreatedAt and st.UpdatedAt to what was
// stored.
func (s *Store) Claim(ctx context.Context, st *ledger.Settlement) (*ledger.Settlement, bool, error) {
	if st == nil {
		return nil, false, errors.New("ledger/sqlite: claim: nil settlement")
	}
	resp, err := encodeResponse(st.Response)
	if err != nil {
		return nil, false, fmt.Errorf("ledger/sqlite: claim: %w", err)
	}
	var now time.Time
	var existing *ledger.Settlement
	err = s.write(ctx, func(tx *sql.Tx) error {
		// Taken with the write lock held, so that times follow the order
		// of the writes.
		now, existing = time.Now(), nil
		res, err := tx.ExecContext(ctx, `INSERT INTO settlements (`+settlementColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (network, asset, payer, nonce) DO NOTHING`,
			string(st.Key.Network), st.Key.Asset, st.Key.Payer, st.Key.Nonce,
			st.Fingerprint, string(ledger.StatusSettling), st.TxHash, resp, blob(st.Request),
			st.Scheme, st.Version, st.PayTo, st.Amount, st.Resource, st.Owner, st.ClaimID,
			micros(now), micros(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			return nil
		}
		existing, err = scanSettlement(tx.QueryRowContext(ctx,
			`SELECT `+settlementColumns+` FROM settlements`+whereKey, keyArgs(st.Key)...))
		return err
	})
	if err != nil {
		return nil, false, fail(ctx, "claim", err)
	}
	if existing != nil {
		return existing, false, nil
	}
	st.Status = ledger.StatusSettling
	st.CreatedAt = fromMicros(micros(now))
	st.UpdatedAt = st.CreatedAt
	return nil, true, nil
}

// Get returns the settlement of key, or an error wrapping
// [ledger.ErrNotFound].
func (s *Store) Get(ctx context.Context, key x402.SettlementKey) (*ledger.Settlement, error) {
	st, err := scanSettlement(s.r.QueryRowContext(ctx,
		`SELECT `+settlementColumns+` FROM settlements`+whereKey, keyArgs(key)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(key)
	}
	if err != nil {
		return nil, fail(ctx, "get", err)
	}
	return st, nil
}

// Update applies u if the settlement's status is u.From; see
// [ledger.Store.Update]. UpdatedAt always advances, by a microsecond if
// the clock did not.
func (s *Store) Update(ctx context.Context, key x402.SettlementKey, u ledger.Update) error {
	resp, err := encodeResponse(u.Response)
	if err != nil {
		return fmt.Errorf("ledger/sqlite: update: %w", err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		now := micros(time.Now())
		res, err := tx.ExecContext(ctx, `UPDATE settlements SET
				status = ?,
				tx_hash = CASE WHEN ? = '' THEN tx_hash ELSE ? END,
				response = COALESCE(?, response),
				updated_at = MAX(?, updated_at + 1)`+whereKey+` AND status = ?
				AND (? = '' OR claim_id = ?)`,
			append([]any{string(u.Status), u.TxHash, u.TxHash, resp, now},
				append(keyArgs(key), string(u.From), u.ClaimID, u.ClaimID)...)...)
		if err != nil {
			return err
		}
		return changedOne(ctx, tx, res, key)
	})
	if err != nil {
		return s.opError(ctx, "update", err)
	}
	return nil
}

// Release deletes a settling claim whose recorded transaction is txHash
// (and whose claim id is claimID, if set); see [ledger.Store.Release]. It
// returns an error wrapping [ledger.ErrConflict] if the settlement is past
// settling, records another transaction or is another claim, and one
// wrapping [ledger.ErrNotFound] if there is no settlement.
func (s *Store) Release(ctx context.Context, key x402.SettlementKey, txHash, claimID string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM settlements`+whereKey+
			` AND status = 'settling' AND tx_hash = ? AND (? = '' OR claim_id = ?)`,
			append(keyArgs(key), txHash, claimID, claimID)...)
		if err != nil {
			return err
		}
		return changedOne(ctx, tx, res, key)
	})
	if err != nil {
		return s.opError(ctx, "release", err)
	}
	return nil
}

// changedOne checks that res changed a row; if not, it tells a missing
// settlement (ErrNotFound) from one in another state (ErrConflict).
func changedOne(ctx context.Context, tx *sql.Tx, res sql.Result, key x402.SettlementKey) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var exists bool
	if err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM settlements`+whereKey+`)`, keyArgs(key)...).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return notFound(key)
	}
	return fmt.Errorf("%w: %s", ledger.ErrConflict, keyString(key))
}

// opError passes ErrNotFound and ErrConflict through and wraps the rest.
func (s *Store) opError(ctx context.Context, op string, err error) error {
	if errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrConflict) {
		return err
	}
	return fail(ctx, op, err)
}

// Unfinished returns the settlements in status settling or pending, oldest
// first.
func (s *Store) Unfinished(ctx context.Context) ([]*ledger.Settlement, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+settlementColumns+` FROM settlements
		WHERE status IN ('settling', 'pending')
		ORDER BY created_at, network, asset, payer, nonce`)
	if err != nil {
		return nil, fail(ctx, "unfinished", err)
	}
	defer rows.Close()
	var out []*ledger.Settlement
	for rows.Next() {
		st, err := scanSettlement(rows)
		if err != nil {
			return nil, fail(ctx, "unfinished", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "unfinished", err)
	}
	return out, nil
}

const eventColumns = `id, time, kind, version, scheme, network, asset, payer, pay_to,
	amount, resource, tx_hash, status, reason, message`

// Record appends e to the event log, and returns once it is committed.
// It sets e.ID, and e.Time when it is zero. The events of concurrent calls
// are written in one transaction (see the package documentation).
func (s *Store) Record(ctx context.Context, e *ledger.Event) error {
	if e == nil {
		return errors.New("ledger/sqlite: record: nil event")
	}
	if err := s.events.Do(ctx, e); err != nil {
		return fail(ctx, "record", err)
	}
	return nil
}

const insertEvent = `INSERT INTO events (time, kind, version, scheme, network, asset, payer,
		pay_to, amount, resource, tx_hash, status, reason, message)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`

// writeEvents writes a batch of events in one transaction, in order, and
// sets their IDs (and zero Times) once it is committed. The time given to
// events without one is taken with the write lock held, so that times
// follow the order of the ids.
func (s *Store) writeEvents(ctx context.Context, evs []*ledger.Event) error {
	ids := make([]int64, len(evs))
	var now time.Time
	err := s.write(ctx, func(tx *sql.Tx) error {
		now = time.Now()
		stmt, err := tx.PrepareContext(ctx, insertEvent)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, e := range evs {
			t := e.Time
			if t.IsZero() {
				t = now
			}
			if err := stmt.QueryRowContext(ctx, micros(t), string(e.Kind), e.Version, e.Scheme,
				string(e.Network), e.Asset, e.Payer, e.PayTo, e.Amount, e.Resource, e.TxHash,
				e.Status, string(e.Reason), e.Message).Scan(&ids[i]); err != nil {
				if refusesRow(err) {
					return &groupcommit.ItemError{Index: i, Err: err}
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, e := range evs {
		e.ID = ids[i]
		if e.Time.IsZero() {
			e.Time = fromMicros(micros(now))
		}
	}
	return nil
}

// refusesRow reports whether err is SQLite refusing one row for its
// content (too big, a constraint, a type mismatch) rather than a failure of
// the database.
func refusesRow(err error) bool {
	var e *msqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_MISMATCH:
		return true
	}
	return false
}

// Events returns the events that f selects, newest first.
func (s *Store) Events(ctx context.Context, f ledger.EventFilter) ([]*ledger.Event, error) {
	q := `SELECT ` + eventColumns + ` FROM events`
	var conds []string
	var args []any
	if f.Kind != "" {
		conds = append(conds, "kind = ?")
		args = append(args, string(f.Kind))
	}
	if f.Payer != "" {
		conds = append(conds, "payer = ?")
		args = append(args, f.Payer)
	}
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY time DESC, id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fail(ctx, "events", err)
	}
	defer rows.Close()
	var out []*ledger.Event
	for rows.Next() {
		var e ledger.Event
		var t int64
		var kind, network, reason string
		if err := rows.Scan(&e.ID, &t, &kind, &e.Version, &e.Scheme, &network, &e.Asset,
			&e.Payer, &e.PayTo, &e.Amount, &e.Resource, &e.TxHash, &e.Status, &reason,
			&e.Message); err != nil {
			return nil, fail(ctx, "events", err)
		}
		e.Time = fromMicros(t)
		e.Kind = ledger.EventKind(kind)
		e.Network = x402.Network(network)
		e.Reason = x402.Reason(reason)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "events", err)
	}
	return out, nil
}

// scanSettlement reads one row of settlementColumns.
func scanSettlement(row interface{ Scan(...any) error }) (*ledger.Settlement, error) {
	var st ledger.Settlement
	var network, status string
	var resp sql.NullString
	var req []byte
	var created, updated int64
	if err := row.Scan(&network, &st.Key.Asset, &st.Key.Payer, &st.Key.Nonce, &st.Fingerprint,
		&status, &st.TxHash, &resp, &req, &st.Scheme, &st.Version, &st.PayTo, &st.Amount,
		&st.Resource, &st.Owner, &st.ClaimID, &created, &updated); err != nil {
		return nil, err
	}
	st.Key.Network = x402.Network(network)
	st.Status = ledger.Status(status)
	if resp.Valid {
		st.Response = new(x402.SettleResponse)
		if err := json.Unmarshal([]byte(resp.String), st.Response); err != nil {
			return nil, fmt.Errorf("decoding the stored response of %s: %w", keyString(st.Key), err)
		}
	}
	if len(req) > 0 {
		st.Request = req
	}
	st.CreatedAt = fromMicros(created)
	st.UpdatedAt = fromMicros(updated)
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

// blob returns b for a BLOB column, nil (NULL) when empty.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func notFound(key x402.SettlementKey) error {
	return fmt.Errorf("%w: %s", ledger.ErrNotFound, keyString(key))
}

func keyString(k x402.SettlementKey) string {
	return fmt.Sprintf("network=%s asset=%s payer=%s nonce=%s", k.Network, k.Asset, k.Payer, k.Nonce)
}
