package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/go402/go402/ledger"
	"github.com/go402/go402/ledger/internal/groupcommit"
	"github.com/go402/go402/ledger/ledgertest"
	"github.com/go402/go402/x402"
)

// defaultTestURL is the server the tests use unless GO402_TEST_POSTGRES_URL
// names another.
const defaultTestURL = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

func testURL() string {
	if u := os.Getenv("GO402_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return defaultTestURL
}

// needServer skips the test when no PostgreSQL server answers, or fails it
// when running in CI (CI set), where the PostgreSQL tests must run.
func needServer(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testURL())
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("PostgreSQL is not reachable (%v); CI must run the PostgreSQL tests: start a server or set GO402_TEST_POSTGRES_URL", err)
	}
	t.Skipf("PostgreSQL is not reachable (%v); skipping: start a server at %s or set GO402_TEST_POSTGRES_URL", err, defaultTestURL)
}

// newSchema returns the name of a schema of its own for the test, dropped
// with everything in it when the test ends (after the stores opened on it
// are closed, since their cleanups are registered later).
func newSchema(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "ledgertest_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testURL())
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return schema
}

func openSchema(t *testing.T, schema string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{URL: testURL(), Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func closeStore(t *testing.T, s *Store) {
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func TestConformance(t *testing.T) {
	needServer(t)
	ledgertest.Run(t, func(t *testing.T) ledger.Store { return openSchema(t, newSchema(t)) })
}

func TestPersistence(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	open := func(t *testing.T) ledger.Store { return openSchema(t, schema) }
	ledgertest.RunPersistence(t, open, open)
}

// Separate pools stand in for separate facilitator processes: only the
// database is shared.
func TestManyPools(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	var stores []ledger.Store
	for range 4 {
		s := openSchema(t, schema)
		closeStore(t, s)
		stores = append(stores, s)
	}
	ledgertest.ClaimRace(t, stores, 100)
	ledgertest.ReserveRace(t, stores, 50)
}

// Stores opened at once on a new schema apply the migrations once between
// them.
func TestConcurrentOpen(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	stores := make([]*Store, 8)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), Config{URL: testURL(), Schema: schema, MaxConns: 4}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		closeStore(t, stores[i])
	}
	checkMigrations(t, stores[0])
}

func TestMigrationsOnce(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	for range 3 {
		s := openSchema(t, schema)
		checkMigrations(t, s)
		s.Close()
	}
}

func checkMigrations(t *testing.T, s *Store) {
	t.Helper()
	var n, v int
	if err := s.pool.QueryRow(t.Context(),
		`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != 6 || v != 6 {
		t.Errorf("schema_migrations: %d rows, version %d; want 6, 6", n, v)
	}
}

// A database migrated by a newer build is refused, with a typed error, and
// left as it was.
func TestOpenRefusesNewerSchema(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	s := openSchema(t, schema)
	if _, err := s.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	again, err := Open(t.Context(), Config{URL: testURL(), Schema: schema})
	if err == nil {
		again.Close()
		t.Fatal("Open of a database at schema version 99 succeeded")
	}
	if !errors.Is(err, ledger.ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 99") {
		t.Errorf("Open: %v; want ErrSchemaTooNew naming version 99", err)
	}
	conn, err := pgx.Connect(t.Context(), testURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM `+pgx.Identifier{schema, "schema_migrations"}.Sanitize()).Scan(&n); err != nil || n != 7 {
		t.Errorf("schema_migrations after the refused Open: %d rows, %v; want 7 (six migrations and the newer one)", n, err)
	}
}

// The tables go in the configured schema, not in public.
func TestSchemaIsolation(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	s := openSchema(t, schema)
	closeStore(t, s)
	var got string
	if err := s.pool.QueryRow(t.Context(),
		`SELECT table_schema FROM information_schema.tables WHERE table_name = 'settlements' AND table_schema = $1`,
		schema).Scan(&got); err != nil {
		t.Fatalf("settlements is not in schema %s: %v", schema, err)
	}
}

// An update blocked by another transaction's row lock gives up when its
// context ends.
func TestBlockedUpdateHonoursContext(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	s := openSchema(t, schema)
	closeStore(t, s)
	k := x402.SettlementKey{Network: "n", Asset: "a", Payer: "p", Nonce: "locked"}
	if _, claimed, err := s.Claim(t.Context(), &ledger.Settlement{Key: k}); err != nil || !claimed {
		t.Fatalf("Claim: %v, %v", claimed, err)
	}

	tx, err := s.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `SELECT 1 FROM settlements WHERE nonce = 'locked' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	// The row stays locked until the rollback below: an Update that
	// returns before it gave up because its context ended.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	updated := make(chan error, 1)
	go func() {
		updated <- s.Update(ctx, k, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending})
	}()
	select {
	case err = <-updated:
	case <-time.After(time.Minute):
		t.Fatal("Update still waiting for the row lock after its context ended")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Update of a locked row: %v; want DeadlineExceeded", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(t.Context(), k, ledger.Update{From: ledger.StatusSettling, Status: ledger.StatusPending}); err != nil {
		t.Fatalf("Update after the lock was released: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.Context(), Config{}); err == nil {
		t.Error("Open without a URL succeeded")
	}
	if _, err := Open(t.Context(), Config{URL: "postgres://u:secret@host:notaport/db"}); err == nil {
		t.Error("Open of a malformed URL succeeded")
	} else if s := err.Error(); strings.Contains(s, "secret") {
		t.Errorf("error %q reveals the password", s)
	}
}

// waitFor waits until cond, a condition on s's event group, holds,
// checking it at each change of the group; it fails the test if no change
// comes for a while.
func waitFor(t *testing.T, s *Store, what string, cond func() bool) {
	t.Helper()
	for {
		changed := s.events.Changed()
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
	s.events = groupcommit.New(limit, func(ctx context.Context, evs []*ledger.Event) error {
		err := s.writeEvents(ctx, evs)
		if err == nil {
			n.Add(1)
		}
		return err
	})
	return &n
}

// The events recorded while an event transaction is under way are written
// together in the next one (group commit), at most MaxEventBatch at once.
// An event the server refuses (a NUL byte in a text) fails alone, and
// leaves nothing of its batch behind: the others are written once.
func TestRecordGroupCommit(t *testing.T) {
	needServer(t)
	const n, bad = 64, 40
	for _, tc := range []struct {
		max, commits int
	}{
		{0, 2},      // the first event alone, then the 62 good ones that queued behind it
		{16, 1 + 4}, // in batches of at most 16 (the one with the bad event is sent twice)
		{1, n - 1},  // no batching
	} {
		t.Run(fmt.Sprint("max=", tc.max), func(t *testing.T) {
			schema := newSchema(t)
			s, err := Open(t.Context(), Config{URL: testURL(), Schema: schema, MaxConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			closeStore(t, s)
			commits := countCommits(s, tc.max)

			// Another transaction locks the events table, so that the
			// first Record's insert waits while the others queue.
			tx, err := s.pool.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(t.Context(), `LOCK TABLE events IN EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}

			events := make([]*ledger.Event, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			record := func(i int) {
				events[i] = &ledger.Event{Kind: ledger.EventVerify, Payer: "0xpayer", Resource: fmt.Sprint("event ", i), Status: "valid"}
				if i == bad {
					events[i].Message = "NUL \x00 byte"
				}
				wg.Go(func() { errs[i] = s.Record(t.Context(), events[i]) })
			}
			record(0)
			waitFor(t, s, "the first event's transaction", func() bool { return s.events.InFlight() == 1 })
			for i := 1; i < n; i++ {
				record(i)
			}
			waitFor(t, s, "the other events to queue", func() bool { return s.events.Waiting() == n-1 })
			if err := tx.Rollback(t.Context()); err != nil {
				t.Fatal(err)
			}
			wg.Wait()

			for i, err := range errs {
				switch {
				case i == bad && err == nil:
					t.Errorf("Record of an event with a NUL byte succeeded")
				case i != bad && err != nil:
					t.Errorf("Record %d: %v", i, err)
				}
			}
			if got := commits.Load(); got != int64(tc.commits) {
				t.Errorf("%d event transactions, want %d", got, tc.commits)
			}
			rows, err := s.pool.Query(t.Context(), `SELECT id, resource FROM events`)
			if err != nil {
				t.Fatal(err)
			}
			stored := map[int64]string{}
			var id int64
			var res string
			if _, err := pgx.ForEachRow(rows, []any{&id, &res}, func() error {
				if _, dup := stored[id]; dup {
					t.Errorf("ID %d twice", id)
				}
				stored[id] = res
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(stored) != n-1 {
				t.Errorf("%d events stored, want %d", len(stored), n-1)
			}
			for i, e := range events {
				if i != bad && stored[e.ID] != e.Resource {
					t.Errorf("event %d: ID %d holds %q", i, e.ID, stored[e.ID])
				}
			}
		})
	}
}

// An event the server refuses (a NUL byte in a text) does not undo the
// reservation it was to be recorded with: the outcome stands, and
// ReserveResult.EventErr says the event was not recorded.
func TestReserveEventRefused(t *testing.T) {
	needServer(t)
	s := openSchema(t, newSchema(t))
	k := x402.SettlementKey{Network: "eip155:84532", Asset: "0xa", Payer: "0xb", Nonce: "0x1"}
	r := &ledger.Reservation{Key: k, Amount: big.NewInt(10), Balance: big.NewInt(10), Expires: time.Now().Add(time.Hour),
		Event: func(ledger.ReserveResult) *ledger.Event {
			return &ledger.Event{Kind: ledger.EventVerify, Payer: "0xb", Status: "valid", Message: "nul \x00 byte"}
		}}
	res, err := s.Reserve(t.Context(), r)
	if err != nil || !res.Reserved || res.EventErr == nil {
		t.Fatalf("Reserve = %+v, %v; want reserved, with EventErr", res, err)
	}
	r.Key.Nonce = "0x2"
	if res, err := s.Reserve(t.Context(), r); err != nil || res.Reserved || res.Held.Int64() != 10 {
		t.Fatalf("second Reserve = %+v, %v; want refused, 10 held", res, err)
	}
}

// Migration 0004 sums the reservations made before it into the payers'
// running totals, so that a verify after the upgrade still sees them.
func TestMigrationSumsExistingReservations(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	s := openSchema(t, schema)
	ctx := t.Context()
	// Back to schema version 3, with reservations written by it.
	for _, q := range []string{
		`DROP TABLE reservation_holds`,
		`DROP INDEX reservations_payer_expires`,
		`DROP INDEX settlements_unfinished`,
		`CREATE INDEX reservations_expires ON reservations (expires_at)`,
		`DELETE FROM schema_migrations WHERE version = 4`,
		`INSERT INTO reservations (network, asset, payer, nonce, amount, expires_at) VALUES
			('n', 'a', 'p', '1', '100000000000000000000000000000', now() + interval '1 hour'),
			('n', 'a', 'p', '2', '5', now() + interval '1 hour'),
			('n', 'a', 'q', '3', '7', now() + interval '1 hour')`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s.Close()
	s = openSchema(t, schema)
	closeStore(t, s)
	r := &ledger.Reservation{Key: x402.SettlementKey{Network: "n", Asset: "a", Payer: "p", Nonce: "4"},
		Amount: big.NewInt(1), Balance: big.NewInt(1000), Expires: time.Now().Add(time.Hour)}
	want, _ := new(big.Int).SetString("100000000000000000000000000005", 10)
	if res, err := s.Reserve(ctx, r); err != nil || res.Reserved || res.Held.Cmp(want) != 0 {
		t.Fatalf("Reserve after the upgrade = %+v, %v; want refused, %s held", res, err, want)
	}
	r.Key.Payer = "q"
	if res, err := s.Reserve(ctx, r); err != nil || !res.Reserved || res.Held.Int64() != 7 {
		t.Fatalf("Reserve of the other payer = %+v, %v; want reserved, 7 held", res, err)
	}
}

// A reservation whose transaction fails between its two pipelined round
// trips (here: the caller goes away after the reads) writes nothing and
// leaves neither an open transaction nor the payer's lock behind: another
// instance reserves the same payer at once, and sees nothing held.
func TestReserveFailureMidwayLeavesNothing(t *testing.T) {
	needServer(t)
	schema := newSchema(t)
	a, b := openSchema(t, schema), openSchema(t, schema)
	k := x402.SettlementKey{Network: "eip155:84532", Asset: "0xa", Payer: "0xb", Nonce: "0x1"}
	ctx, cancel := context.WithCancel(t.Context())
	r := &ledger.Reservation{Key: k, Amount: big.NewInt(10), Balance: big.NewInt(10), Expires: time.Now().Add(time.Hour),
		Event: func(ledger.ReserveResult) *ledger.Event {
			cancel() // after the reads, before the writes and COMMIT
			return &ledger.Event{Kind: ledger.EventVerify, Payer: "0xb", Status: "valid"}
		}}
	if res, err := a.Reserve(ctx, r); err == nil {
		t.Fatalf("Reserve whose caller went away midway = %+v, nil; want an error", res)
	}
	for _, s := range []*Store{b, a} {
		wctx, wcancel := context.WithTimeout(t.Context(), 5*time.Second)
		r2 := &ledger.Reservation{Key: k, Amount: big.NewInt(10), Balance: big.NewInt(10), Expires: time.Now().Add(time.Hour)}
		r2.Key.Nonce = "0x2"
		if s == a {
			r2.Key.Nonce = "0x3"
			r2.Balance = big.NewInt(20)
		}
		res, err := s.Reserve(wctx, r2)
		wcancel()
		if err != nil || !res.Reserved {
			t.Fatalf("Reserve of the same payer after the failed one = %+v, %v; want reserved (nothing held by the failed one)", res, err)
		}
	}
	evs, err := b.Events(t.Context(), ledger.EventFilter{Payer: "0xb"})
	if err != nil || len(evs) != 0 {
		t.Errorf("events after the failed reservation: %d, %v; want none", len(evs), err)
	}
}
