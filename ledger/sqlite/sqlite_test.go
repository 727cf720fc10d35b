package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/internal/groupcommit"
	"github.com/go402/go402/ledger/ledgertest"
	"github.com/go402/go402/x402"
)

// openPath opens a store on path; the test closes it.
func openPath(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: path})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "ledger.db")
}

func closeStore(t *testing.T, s *Store) {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Store { return openPath(t, tempPath(t)) })
}

func TestPersistence(t *testing.T) {
	path := tempPath(t)
	open := func(t *testing.T) ledger.Store { return openPath(t, path) }
	ledgertest.RunPersistence(t, open, open)
}

// Two Stores on one file behave like two processes: separate pools, with
// only SQLite's file locks between them.
func TestTwoStoresOneFile(t *testing.T) {
	path := tempPath(t)
	a, b := openPath(t, path), openPath(t, path)
	closeStore(t, a)
	closeStore(t, b)
	ledgertest.ClaimRace(t, []ledger.Store{a, b}, 100)
	ledgertest.ReserveRace(t, []ledger.Store{a, b}, 50)
}

func TestPragmas(t *testing.T) {
	s := openPath(t, tempPath(t))
	closeStore(t, s)
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "5000",
	}
	pools := []struct {
		name  string
		db    *sql.DB
		conns int // held at once, so that more than the first is checked
	}{{"writer", s.w, 1}, {"reader", s.r, 3}}
	for _, p := range pools {
		var conns []*sql.Conn
		for range p.conns {
			c, err := p.db.Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for i, c := range conns {
			for pragma, v := range want {
				var got string
				if err := c.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatalf("%s %d: PRAGMA %s: %v", p.name, i, pragma, err)
				}
				if got != v {
					t.Errorf("%s connection %d: %s = %s, want %s", p.name, i, pragma, got, v)
				}
			}
			c.Close()
		}
	}
	// Readers cannot write.
	if _, err := s.r.ExecContext(t.Context(), `DELETE FROM events`); err == nil {
		t.Error("a reader connection could write")
	}
}

func TestMigrationsOnce(t *testing.T) {
	path := tempPath(t)
	for range 3 {
		s := openPath(t, path)
		var n, v int
		if err := s.r.QueryRowContext(t.Context(),
			`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		if n != 6 || v != 6 {
			t.Errorf("schema_migrations: %d rows, version %d; want 6, 6", n, v)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// Stores opened at once on a new file apply the migrations once between
// them.
func TestConcurrentOpen(t *testing.T) {
	path := tempPath(t)
	var wg sync.WaitGroup
	stores := make([]*Store, 6)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), Config{Path: path}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		closeStore(t, stores[i])
	}
	var n int
	if err := stores[0].r.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("schema_migrations has %d rows, want 6", n)
	}
}

// A database migrated by a newer build is refused, with a typed error, and
// left as it was.
func TestOpenRefusesNewerSchema(t *testing.T) {
	path := tempPath(t)
	s := openPath(t, path)
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(t.Context(), Config{Path: path})
	if err == nil {
		again.Close()
		t.Fatal("Open of a database at schema version 99 succeeded")
	}
	if !errors.Is(err, ledger.ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("Open: %v; want ErrSchemaTooNew naming version 99", err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != 7 {
		t.Errorf("schema_migrations after the refused Open: %d rows, %v; want 7 (six migrations and the newer one)", n, err)
	}
}

// A write blocked by another process's lock gives up when its context
// ends, long before busy_timeout, and works once the lock is gone.
func TestBusyHonoursContext(t *testing.T) {
	path := tempPath(t)
	// busy_timeout is an hour: a Claim that returns while the lock is
	// still held gave up because its context ended.
	s, err := Open(t.Context(), Config{Path: path, BusyTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)

	// Another "process" holds the write lock.
	_, unlock := holdWriteLock(t, path)

	st := &ledger.Settlement{Key: x402.SettlementKey{Network: "n", Asset: "a", Payer: "p", Nonce: "busy"}}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	claimed := make(chan error, 1)
	go func() { _, _, err := s.Claim(ctx, st); claimed <- err }()
	select {
	case err = <-claimed:
	case <-time.After(time.Minute):
		t.Fatal("Claim still waiting for the lock after its context ended")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Claim while another connection holds the lock: %v; want DeadlineExceeded", err)
	}

	unlock()
	if _, claimed, err := s.Claim(t.Context(), st); err != nil || !claimed {
		t.Fatalf("Claim after the lock was released: claimed %v, %v", claimed, err)
	}
}

// holdWriteLock takes the write lock of the database at path, on a
// connection of its own, as another process would, until unlock. other is
// that connection's database, for reading.
func holdWriteLock(t *testing.T, path string) (other *sql.DB, unlock func()) {
	t.Helper()
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return other, func() {
		t.Helper()
		if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b")} {
		if s, err := Open(t.Context(), Config{Path: p}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// waitFor waits until cond, a condition on s's event group, holds,
// checking it at each change of the group; it fails the test if no change
// comes for a while.
func waitFor(t *testing.T, s *Store, what string, cond func() bool) {
	t.Helper()
	for {
		changed := s.writes.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// countCommits rebuilds s's event group as Open does with MaxEventBatch
// limit, and counts the transactions that write events.
func countCommits(s *Store, limit int) *atomic.Int64 {
	var n atomic.Int64
	s.writes = groupcommit.New(limit, func(ctx context.Context, ws []*write) error {
		err := s.writeBatch(ctx, ws)
		if err == nil {
			n.Add(1)
		}
		return err
	})
	return &n
}

// The events recorded while an event transaction is under way are written
// together in the next one (group commit), at most MaxEventBatch at once,
// and every Record returns with its event committed.
func TestRecordGroupCommit(t *testing.T) {
	const n = 64
	for _, tc := range []struct {
		max, commits int
	}{
		{0, 2},      // the first event alone, then the 63 that queued behind it
		{16, 1 + 4}, // 63 in batches of at most 16
		{1, n},      // no batching
	} {
		t.Run(fmt.Sprint("max=", tc.max), func(t *testing.T) {
			path := tempPath(t)
			s := openPath(t, path)
			closeStore(t, s)
			commits := countCommits(s, tc.max)

			// Another "process" holds the write lock, so that the first
			// Record's transaction waits while the others queue.
			other, unlock := holdWriteLock(t, path)

			events := make([]*ledger.Event, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			record := func(i int) {
				events[i] = &ledger.Event{Kind: ledger.EventVerify, Payer: "0xpayer", Resource: fmt.Sprint("event ", i), Status: "valid"}
				wg.Go(func() { errs[i] = s.Record(t.Context(), events[i]) })
			}
			record(0)
			waitFor(t, s, "the first event's transaction", func() bool { return s.writes.InFlight() == 1 })
			for i := 1; i < n; i++ {
				record(i)
			}
			waitFor(t, s, "the other events to queue", func() bool { return s.writes.Waiting() == n-1 })
			unlock()
			wg.Wait()

			for i, err := range errs {
				if err != nil {
					t.Fatalf("Record %d: %v", i, err)
				}
			}
			if got := commits.Load(); got != int64(tc.commits) {
				t.Errorf("%d event transactions, want %d", got, tc.commits)
			}
			// Committed: another connection sees each event once, under
			// the ID Record set.
			ids := map[int64]string{}
			rows, err := other.QueryContext(t.Context(), `SELECT id, resource FROM events`)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				var res string
				if err := rows.Scan(&id, &res); err != nil {
					t.Fatal(err)
				}
				ids[id] = res
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			if len(ids) != n {
				t.Errorf("%d events stored, want %d", len(ids), n)
			}
			for i, e := range events {
				if ids[e.ID] != e.Resource {
					t.Errorf("event %d: ID %d holds %q", i, e.ID, ids[e.ID])
				}
			}
		})
	}
}
