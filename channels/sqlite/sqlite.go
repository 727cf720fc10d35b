// Package sqlite is the embedded, default [channels.Store]: a resource
// server's payment channels in one SQLite database file, with no server to
// run (pure-Go driver modernc.org/sqlite).
//
// # One process per file
//
// The store is the only writer of its file: Open takes an exclusive lock
// on "<path>.lock" and fails if another process (or another Store in this
// process) holds it. That makes the process's memory authoritative, so
// that the hot path of a paid request reads nothing from disk: every
// channel read is cached after its first load, leases live in memory (a
// restart ends them, as it ends the requests that held them), and the
// compare-and-set of [Store.Commit] is decided in memory and then written.
// Several server replicas need channels/postgres.
//
// # Durability: group commit
//
// Every write (Create, Commit, Sync, RecordClaim) is a transaction synced
// to disk (journal_mode=WAL, synchronous=FULL) before the call returns. The
// writes of concurrent calls are committed together: one goroutine writes
// every write queued meanwhile (at most MaxBatch) in one transaction, so
// one fsync serves them all, and each caller returns once the transaction
// holding its write committed. Each write is also a compare-and-set in SQL
// (WHERE charged = expected), so the file never holds a double count even
// if the memory were wrong.
package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofrs/flock"
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/go402/go402/channels"
	"github.com/go402/go402/channels/internal/codec"
	"github.com/go402/go402/x402"
)

//go:embed migrations/0001_init.sql
var schemaSQL string

var errClosed = errors.New("channels/sqlite: store closed")

// DefaultMaxBatch is the most writes committed in one transaction.
const DefaultMaxBatch = 256

// Config configures [Open].
type Config struct {
	// Path is the database file, created if missing. Required; a plain
	// file path.
	Path string
	// MaxBatch bounds the writes of one transaction; 0 means
	// DefaultMaxBatch.
	MaxBatch int
	// Logger; nil discards.
	Logger *slog.Logger
}

// Store is a [channels.Store] in a SQLite file. Safe for concurrent use.
type Store struct {
	path string
	db   *sql.DB // one connection
	lock *flock.Flock
	log  *slog.Logger
	max  int

	mu    sync.Mutex
	cache map[string]*channels.Channel // every channel loaded or written

	commitStmt *sql.Stmt // Commit's UPDATE, prepared on db

	batches, written atomic.Int64 // see Stats

	writes chan *write
	done   chan struct{} // closed by Close
	exited chan struct{} // closed by the writer when it has stopped
	r      *sql.DB       // read-only connections, for loads and lists

	closeOnce sync.Once
	closeErr  error
}

var _ channels.Store = (*Store)(nil)

// write is one queued write: apply runs in the batch's transaction.
type write struct {
	apply func(tx *sql.Tx) error
	err   chan error
}

// Open opens, and creates if needed, the database at cfg.Path.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" || cfg.Path == ":memory:" || strings.HasPrefix(cfg.Path, "file:") || strings.Contains(cfg.Path, "?") {
		return nil, fmt.Errorf("channels/sqlite: database path %q: want a plain file path", cfg.Path)
	}
	lk := flock.New(cfg.Path + ".lock")
	ok, err := lk.TryLock()
	if err != nil {
		return nil, fmt.Errorf("channels/sqlite: locking %s: %w", cfg.Path, err)
	}
	if !ok {
		return nil, fmt.Errorf("channels/sqlite: %s is in use by another store (one process per file; use channels/postgres for several)", cfg.Path)
	}
	dsn := cfg.Path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err == nil {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		_, err = db.ExecContext(ctx, schemaSQL)
	}
	var commitStmt *sql.Stmt
	if err == nil {
		commitStmt, err = db.PrepareContext(ctx, "UPDATE channels SET charged = ?, signed_max = ?, signature = ?, last_request_at = ? WHERE id = ? AND charged = ?")
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		_ = lk.Unlock()
		return nil, fmt.Errorf("channels/sqlite: open %s: %w", cfg.Path, err)
	}
	s := &Store{path: cfg.Path, db: db, commitStmt: commitStmt, lock: lk, log: cfg.Logger, max: cfg.MaxBatch, cache: map[string]*channels.Channel{},
		writes: make(chan *write, 1024), done: make(chan struct{}), exited: make(chan struct{})}
	s.r, err = sql.Open("sqlite", cfg.Path+"?_pragma=busy_timeout(5000)&_query_only=1")
	if err != nil {
		db.Close()
		_ = lk.Unlock()
		return nil, fmt.Errorf("channels/sqlite: open %s: %w", cfg.Path, err)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.max <= 0 {
		s.max = DefaultMaxBatch
	}
	go s.writer()
	return s, nil
}

// Close stops the writer and closes the database. It may be called more
// than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		<-s.exited
		s.closeErr = errors.Join(s.r.Close(), s.commitStmt.Close(), s.db.Close(), s.lock.Unlock())
	})
	return s.closeErr
}

// writer commits the queued writes in batches until Close.
func (s *Store) writer() {
	defer close(s.exited)
	batch := make([]*write, 0, s.max)
	for {
		select {
		case <-s.done:
			for {
				select {
				case w := <-s.writes:
					w.err <- errClosed
				default:
					return
				}
			}
		case w := <-s.writes:
			batch = append(batch[:0], w)
		}
	fill:
		for len(batch) < s.max {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		s.batches.Add(1)
		s.written.Add(int64(len(batch)))
	}
}

// commitBatch runs a batch in one transaction. A write that changes
// nothing reports channels.ErrConflict and leaves the others be; any other
// failure rolls the batch back and fails every write of it.
func (s *Store) commitBatch(batch []*write) {
	errs := make([]error, len(batch))
	tx, err := s.db.Begin()
	if err == nil {
		for i, w := range batch {
			errs[i] = w.apply(tx)
			if errs[i] != nil && !errors.Is(errs[i], channels.ErrConflict) {
				err = errs[i]
				break
			}
		}
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
	}
	for i, w := range batch {
		if err != nil {
			errs[i] = fmt.Errorf("channels/sqlite: write: %w", err)
		}
		w.err <- errs[i]
	}
}

// enqueue queues apply for the writer. Callers hold s.mu while they
// update the cache and enqueue, so that the writes reach the database in
// the order the cache saw them: a Commit built on another's amount is
// never written before it (its compare-and-set would fail), and of two
// Syncs or RecordClaims the later one is written last.
func (s *Store) enqueue(ctx context.Context, apply func(tx *sql.Tx) error) (*write, error) {
	w := &write{apply: apply, err: make(chan error, 1)}
	select {
	case s.writes <- w:
		return w, nil
	case <-s.exited:
		return nil, errClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// wait waits for a queued write's transaction. Once queued the write
// happens (or is refused at Close); it waits whatever the caller's context
// says, so that the caller never mistakes a committed write for a failed
// one.
func (s *Store) wait(w *write) error {
	select {
	case err := <-w.err:
		return err
	case <-s.exited:
		select {
		case err := <-w.err:
			return err
		default:
			return errClosed // queued after the writer stopped: not applied
		}
	}
}

// load returns the cached channel, loading it first; s.mu must be held.
func (s *Store) load(ctx context.Context, id string) (*channels.Channel, error) {
	id = codec.NormID(id)
	if ch, ok := s.cache[id]; ok {
		return ch, nil
	}
	var r codec.Row
	err := s.r.QueryRowContext(ctx, "SELECT "+codec.Columns+" FROM channels WHERE id = ?", id).Scan(r.Dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, channels.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("channels/sqlite: get %s: %w", id, err)
	}
	ch, err := r.Channel()
	if err != nil {
		return nil, err
	}
	s.cache[id] = &ch
	return &ch, nil
}

// Get implements [channels.Store].
func (s *Store) Get(ctx context.Context, id string) (channels.Channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.load(ctx, id)
	if err != nil {
		return channels.Channel{}, err
	}
	return clone(ch), nil
}

// clone copies ch, its Config included.
func clone(ch *channels.Channel) channels.Channel {
	c := *ch
	c.Config = append([]byte(nil), ch.Config...)
	return c
}

// Create implements [channels.Store].
func (s *Store) Create(ctx context.Context, ch channels.Channel) error {
	ch.ID = codec.NormID(ch.ID)
	s.mu.Lock()
	if _, err := s.load(ctx, ch.ID); err == nil {
		s.mu.Unlock()
		return channels.ErrExists
	} else if !errors.Is(err, channels.ErrNotFound) {
		s.mu.Unlock()
		return err
	}
	c := clone(&ch)
	c.LeaseHolder, c.LeaseUntil = "", time.Time{}
	s.cache[ch.ID] = &c // reserved in memory while the insert commits
	row := codec.FromChannel(&ch)
	w, err := s.enqueue(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO channels ("+codec.Columns+") VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row.Args()...)
		return err
	})
	s.mu.Unlock()
	if err == nil {
		err = s.wait(w)
	}
	if err != nil {
		s.mu.Lock()
		delete(s.cache, ch.ID)
		s.mu.Unlock()
		return fmt.Errorf("channels/sqlite: create %s: %w", ch.ID, err)
	}
	return nil
}

// Reserve implements [channels.Store]: the lease is kept in memory.
func (s *Store) Reserve(ctx context.Context, id, holder string, until, now time.Time) (channels.Channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, err := s.load(ctx, id)
	if err != nil {
		return channels.Channel{}, err
	}
	if ch.LeaseHolder != "" && ch.LeaseHolder != holder && ch.LeaseUntil.After(now) {
		return channels.Channel{}, channels.ErrBusy
	}
	ch.LeaseHolder, ch.LeaseUntil = holder, until
	return clone(ch), nil
}

// Release implements [channels.Store].
func (s *Store) Release(ctx context.Context, id, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.cache[codec.NormID(id)]; ok && ch.LeaseHolder == holder {
		ch.LeaseHolder, ch.LeaseUntil = "", time.Time{}
	}
	return nil
}

// Commit implements [channels.Store]. The compare-and-set is decided in
// memory, where the new amount is set at once (so a concurrent Commit on
// the same expected amount fails), then written; if the write fails, the
// memory is put back.
func (s *Store) Commit(ctx context.Context, c channels.Charge) (channels.Channel, error) {
	id := codec.NormID(c.ID)
	s.mu.Lock()
	ch, err := s.load(ctx, id)
	if err != nil {
		s.mu.Unlock()
		return channels.Channel{}, err
	}
	if ch.Charged != c.Expected {
		s.mu.Unlock()
		return channels.Channel{}, channels.ErrConflict
	}
	prev := *ch
	ch.Charged, ch.SignedMax, ch.Signature, ch.LastRequestAt = c.Charged, c.SignedMax, c.Signature, c.At
	if ch.LeaseHolder == c.Holder {
		ch.LeaseHolder, ch.LeaseUntil = "", time.Time{}
	}
	out := clone(ch)
	exp, next, max, at := c.Expected.String(), c.Charged.String(), c.SignedMax.String(), codec.Millis(c.At)
	w, err := s.enqueue(ctx, func(tx *sql.Tx) error {
		res, err := tx.Stmt(s.commitStmt).Exec(next, max, c.Signature, at, id, exp)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(channels.ErrConflict, err)
		}
		return nil
	})
	s.mu.Unlock()
	if err == nil {
		err = s.wait(w)
	}
	if err != nil {
		s.mu.Lock()
		if ch.Charged == c.Charged && ch.Signature == c.Signature {
			prev.LeaseHolder, prev.LeaseUntil = ch.LeaseHolder, ch.LeaseUntil
			*ch = prev
		}
		s.mu.Unlock()
		if errors.Is(err, channels.ErrConflict) {
			return channels.Channel{}, channels.ErrConflict
		}
		return channels.Channel{}, fmt.Errorf("channels/sqlite: commit %s: %w", id, err)
	}
	return out, nil
}

// Sync implements [channels.Store].
func (s *Store) Sync(ctx context.Context, id string, o channels.Onchain) error {
	id = codec.NormID(id)
	s.mu.Lock()
	ch, err := s.load(ctx, id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if o.TotalClaimed.Cmp(ch.Onchain.TotalClaimed) < 0 {
		o.TotalClaimed = ch.Onchain.TotalClaimed
	}
	ch.Onchain = o
	w, err := s.enqueue(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE channels SET balance = ?, total_claimed = ?, withdraw_requested_at = ?, refund_nonce = ?, synced_at = ? WHERE id = ?",
			o.Balance.String(), o.TotalClaimed.String(), o.WithdrawRequestedAt, int64(o.RefundNonce), codec.Millis(o.SyncedAt), id)
		return err
	})
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.wait(w)
}

// RecordClaim implements [channels.Store].
func (s *Store) RecordClaim(ctx context.Context, id string, claimed x402.Amount) error {
	id = codec.NormID(id)
	s.mu.Lock()
	ch, err := s.load(ctx, id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if claimed.Cmp(ch.Onchain.TotalClaimed) <= 0 {
		s.mu.Unlock()
		return nil
	}
	ch.Onchain.TotalClaimed = claimed
	w, err := s.enqueue(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec("UPDATE channels SET total_claimed = ? WHERE id = ?", claimed.String(), id)
		return err
	})
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.wait(w)
}

// Unclaimed implements [channels.Store], from the committed rows.
func (s *Store) Unclaimed(ctx context.Context) ([]channels.Channel, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+codec.Columns+" FROM channels WHERE charged <> total_claimed ORDER BY last_request_at")
	if err != nil {
		return nil, fmt.Errorf("channels/sqlite: unclaimed: %w", err)
	}
	defer rows.Close()
	var out []channels.Channel
	for rows.Next() {
		var r codec.Row
		if err := rows.Scan(r.Dest()...); err != nil {
			return nil, fmt.Errorf("channels/sqlite: unclaimed: %w", err)
		}
		ch, err := r.Channel()
		if err != nil {
			return nil, err
		}
		if ch.Unclaimed() {
			out = append(out, ch)
		}
	}
	return out, rows.Err()
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Stats reports how many write transactions the store committed and how
// many writes they held (group commit's batching).
func (s *Store) Stats() (transactions, writes int64) { return s.batches.Load(), s.written.Load() }
