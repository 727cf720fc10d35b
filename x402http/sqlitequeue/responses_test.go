package sqlitequeue_test

import (
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/queuetest"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// TestResponseStoreContract runs the x402http.ResponseStore contract on
// the SQLite queue and on x402http.MemoryResponses.
func TestResponseStoreContract(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		queuetest.RunResponseStore(t, func(t *testing.T, now func() time.Time) x402http.ResponseStore {
			q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: filepath.Join(t.TempDir(), "q.db"), Now: now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = q.Close() })
			return q
		})
	})
	t.Run("memory", func(t *testing.T) {
		queuetest.RunResponseStore(t, func(t *testing.T, now func() time.Time) x402http.ResponseStore {
			return &x402http.MemoryResponses{Now: now}
		})
	})
}

// TestResponsesSurviveRestart: a stored response is found by a queue
// reopened on the same file (another process, or after a restart).
func TestResponsesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	ctx := t.Context()
	q, err := sqlitequeue.Open(ctx, sqlitequeue.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Begin(ctx, "k", "fp", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := q.Finish(ctx, "k", &x402http.StoredResponse{Status: 201, Header: http.Header{}, Body: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_ = q.Close()
	q2, err := sqlitequeue.Open(ctx, sqlitequeue.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	got, err := q2.Begin(ctx, "k", "fp", time.Now().Add(time.Hour))
	if err != nil || got == nil || got.Status != 201 || string(got.Body) != "x" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
}

// BenchmarkResponseStore: one Begin and Finish of a new id, then a Begin
// answered from the store (a resend).
func BenchmarkResponseStore(b *testing.B) {
	q, err := sqlitequeue.Open(b.Context(), sqlitequeue.Config{Path: filepath.Join(b.TempDir(), "q.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close() })
	resp := &x402http.StoredResponse{Status: 200, Header: http.Header{"Payment-Response": {"abc"}}, Body: make([]byte, 1024)}
	for name, s := range map[string]x402http.ResponseStore{"sqlite": q, "memory": &x402http.MemoryResponses{}} {
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			until := time.Now().Add(time.Hour)
			i := 0
			for b.Loop() {
				i++
				key := "k" + strconv.Itoa(i)
				if _, err := s.Begin(ctx, key, "fp", until); err != nil {
					b.Fatal(err)
				}
				if err := s.Finish(ctx, key, resp); err != nil {
					b.Fatal(err)
				}
				if r, err := s.Begin(ctx, key, "fp", until); err != nil || r == nil {
					b.Fatal(r, err)
				}
			}
		})
	}
}
