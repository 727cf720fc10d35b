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
// # Reservations
//
// [Store.Reserve] decides and writes a reservation in a write transaction,
// which SQLite's write lock serialises across connections and processes,
// so that the check of the payer's free funds and the insert are one
// atomic step. The Reserves of concurrent calls are group-committed with
// the events (one transaction, evaluated in arrival order, bounded by
// Config.MaxEventBatch), since every verify writes both. The payer's
// holds are summed in SQL, amounts cut into 15-digit pieces (SQLite has no
// integer wider than 64 bits). Update to a final status and Release delete the
// key's reservation in their own transaction.
//
// Times are kept to the microsecond, in UTC.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
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
	// MaxEventBatch bounds how many events and reservations of concurrent
	// Record and Reserve calls are written in one transaction; 0 means
	// DefaultMaxEventBatch, and 1 writes each in its own transaction.
	MaxEventBatch int
}

// Store is a [ledger.Store] in a SQLite database file. It is safe for
// concurrent use, and several Stores (in one process or several) may share
// one file.
type Store struct {
	w      *sql.DB // one connection; every write goes through it
	r      *sql.DB // read-only connections
	log    *slog.Logger
	writes *groupcommit.Group[*write] // events and reservations

	closeOnce sync.Once
	closeErr  error

	// get is Get's query, prepared once on the readers: parsing it was
	// most of the cost of the read that every verify makes.
	get *sql.Stmt
	// insertEvent and reserveStmts are prepared once on the writer, and
	// bound to each write transaction (tx.StmtContext reuses them).
	insertEvent  *sql.Stmt
	reserveStmts [nReserveQueries]*sql.Stmt
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
	s.writes = groupcommit.New(cfg.MaxEventBatch, s.writeBatch)
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("ledger/sqlite: open %s: %w", cfg.Path, err)
	}

	if err := s.prepareWrites(ctx); err != nil {
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
	get, err := r.PrepareContext(ctx, selectByKey)
	if err != nil {
		r.Close()
		s.closeWrites()
		w.Close()
		return nil, fmt.Errorf("ledger/sqlite: open %s: %w", cfg.Path, err)
	}
	s.r, s.get = r, get
	return s, nil
}

// prepareWrites prepares the statements of group-committed writes on the
// writer, after the migrations created their tables.
func (s *Store) prepareWrites(ctx context.Context) error {
	sts, err := prepareReserve(ctx, s.w)
	if err != nil {
		return err
	}
	ins, err := s.w.PrepareContext(ctx, insertEvent)
	if err != nil {
		closeStmts(sts[:])
		return err
	}
	s.reserveStmts, s.insertEvent = sts, ins
	return nil
}

func (s *Store) closeWrites() {
	closeStmts(append(s.reserveStmts[:], s.insertEvent))
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
			errs = append(errs, s.get.Close(), s.r.Close())
		}
		s.closeWrites()
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

// blob returns b for a BLOB column, nil (NULL) when empty.
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
