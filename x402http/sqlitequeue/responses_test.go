package sqlitequeue_test

import (
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// TestResponseStoreContract runs the x402http.ResponseStore contract on
// the SQLite queue and on x402http.MemoryResponses.
func TestResponseStoreContract(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: filepath.Join(t.TempDir(), "q.db"), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	for name, s := range map[string]x402http.ResponseStore{"sqlite": q, "memory": &x402http.MemoryResponses{Now: clock}} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			until := now.Add(time.Minute)
			if r, err := s.Begin(ctx, "k1", "fp1", until); r != nil || err != nil {
				t.Fatalf("first Begin: %v, %v", r, err)
			}
			if _, err := s.Begin(ctx, "k1", "fp1", until); !errors.Is(err, x402http.ErrPaymentIDInProgress) {
				t.Fatalf("Begin in progress: %v", err)
			}
			if _, err := s.Begin(ctx, "k1", "fp2", until); !errors.Is(err, x402http.ErrPaymentIDConflict) {
				t.Fatalf("Begin other payment: %v", err)
			}
			want := &x402http.StoredResponse{Status: 200, Header: http.Header{"Payment-Response": {"abc"}}, Body: []byte("hello")}
			if err := s.Finish(ctx, "k1", want); err != nil {
				t.Fatal(err)
			}
			got, err := s.Begin(ctx, "k1", "fp1", until)
			if err != nil || got == nil || got.Status != 200 || string(got.Body) != "hello" || got.Header.Get("Payment-Response") != "abc" {
				t.Fatalf("Begin after Finish: %+v, %v", got, err)
			}
			if _, err := s.Begin(ctx, "k1", "fp2", until); !errors.Is(err, x402http.ErrPaymentIDConflict) {
				t.Fatalf("Begin other payment after Finish: %v", err)
			}
			// Forgotten: begun anew.
			if r, err := s.Begin(ctx, "k2", "fp", until); r != nil || err != nil {
				t.Fatal(r, err)
			}
			if err := s.Finish(ctx, "k2", nil); err != nil {
				t.Fatal(err)
			}
			if r, err := s.Begin(ctx, "k2", "other", until); r != nil || err != nil {
				t.Fatalf("Begin after forget: %v, %v", r, err)
			}
			// Expired: begun anew.
			if r, err := s.Begin(ctx, "k3", "fp", now.Add(-time.Second)); r != nil || err != nil {
				t.Fatal(r, err)
			}
			if r, err := s.Begin(ctx, "k3", "other", until); r != nil || err != nil {
				t.Fatalf("Begin after expiry: %v, %v", r, err)
			}
			// Concurrent Begins: exactly one wins.
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					r, err := s.Begin(ctx, "race", "fp", until)
					switch {
					case r == nil && err == nil:
						wins.Add(1)
					case !errors.Is(err, x402http.ErrPaymentIDInProgress):
						t.Errorf("concurrent Begin: %v, %v", r, err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Errorf("%d concurrent Begins won", wins.Load())
			}
		})
	}
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
