package sqlitequeue_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

func open(t *testing.T, path string, now func() time.Time) *sqlitequeue.Queue {
	t.Helper()
	q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: path, PollInterval: 10 * time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

func TestClaimsAreUnique(t *testing.T) {
	ctx := t.Context()
	q := open(t, filepath.Join(t.TempDir(), "q.db"), nil)
	until := time.Now().Add(5 * time.Minute)
	dup := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, x402http.ErrDuplicate) {
			t.Fatalf("%s: %v, want ErrDuplicate", what, err)
		}
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("claim", q.Claim(ctx, "k1", until))
	dup("second claim", q.Claim(ctx, "k1", until))
	// Released (not charged): it may be claimed again.
	must("release", q.Release(ctx, "k1"))
	must("claim after release", q.Claim(ctx, "k1", until))
	// Queued: a claim or a second settlement of it is a duplicate, and a
	// release does not undo it.
	must("enqueue", q.Enqueue(ctx, "k1", request(t)))
	dup("claim of a queued key", q.Claim(ctx, "k1", until))
	dup("second enqueue", q.Enqueue(ctx, "k1", request(t)))
	must("release of a queued key", q.Release(ctx, "k1"))
	dup("claim after releasing a queued key", q.Claim(ctx, "k1", until))
	// A key never claimed is claimed and queued at once.
	must("enqueue unclaimed", q.Enqueue(ctx, "k2", request(t)))
	dup("claim of k2", q.Claim(ctx, "k2", until))
	if queued, _, _, err := q.Counts(ctx); err != nil || queued != 2 {
		t.Fatalf("queued %d %v", queued, err)
	}
	// Settled items keep their key: a served payment stays used.
	id, _, err := q.Next(ctx)
	must("next", err)
	must("done", q.Done(ctx, id, nil, false))
	dup("claim of a finished key", q.Claim(ctx, "k1", until))
	dup("claim of a finished key", q.Claim(ctx, "k2", until))
	if err := q.Claim(ctx, "", until); err == nil || errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("empty key: %v", err)
	}
}

// Processes sharing the file (here, two handles with their own connection)
// see each other's claims: of many concurrent claims of one key, one wins.
func TestClaimAcrossHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	qs := []*sqlitequeue.Queue{open(t, path, nil), open(t, path, nil)}
	until := time.Now().Add(time.Minute)
	var won, lost atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := qs[i%2].Claim(t.Context(), "same", until)
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, x402http.ErrDuplicate):
				lost.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || lost.Load() != 19 {
		t.Fatalf("%d claims won, %d lost", won.Load(), lost.Load())
	}
}

// A claim that was never queued is deleted once its authorization has
// expired; a queued one is kept.
func TestExpiredClaimsArePruned(t *testing.T) {
	ctx := t.Context()
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	clock := func() time.Time { return time.UnixMilli(now.Load()) }
	q := open(t, filepath.Join(t.TempDir(), "q.db"), clock)
	if err := q.Claim(ctx, "old", clock().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := q.Claim(ctx, "queued", clock().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, "queued", request(t)); err != nil {
		t.Fatal(err)
	}
	now.Add((10 * time.Minute).Milliseconds())
	if err := q.Claim(ctx, "new", clock().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := q.Claim(ctx, "old", clock().Add(time.Minute)); err != nil {
		t.Fatalf("expired claim not pruned: %v", err)
	}
	if err := q.Claim(ctx, "queued", clock().Add(time.Minute)); !errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("queued key: %v", err)
	}
}

// A queue file written before claims existed is upgraded in place; its
// items are still settled.
func TestOpenUpgradesOldFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := request(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`CREATE TABLE settlement_queue (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		request BLOB NOT NULL,
		state TEXT NOT NULL DEFAULT 'queued',
		attempts INTEGER NOT NULL DEFAULT 0,
		due_at INTEGER NOT NULL,
		response TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	)`, `CREATE INDEX settlement_queue_due ON settlement_queue(state, due_at)`} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := db.ExecContext(ctx, `INSERT INTO settlement_queue(request, due_at, created_at, updated_at) VALUES (?, 0, 0, 0)`, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	q := open(t, path, nil)
	if queued, _, _, err := q.Counts(ctx); err != nil || queued != 2 {
		t.Fatalf("queued %d %v", queued, err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, req, err := q.Next(short); err != nil || req == nil {
		t.Fatalf("old item: %v", err)
	}
	if err := q.Claim(ctx, "k", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := q.Claim(ctx, "k", time.Now().Add(time.Minute)); !errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("after upgrade: %v", err)
	}
	// Opening it again changes nothing.
	q.Close()
	q = open(t, path, nil)
	if err := q.Claim(ctx, "k", time.Now().Add(time.Minute)); !errors.Is(err, x402http.ErrDuplicate) {
		t.Fatalf("after reopening: %v", err)
	}
}
