package queuetest

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402http"
)

// RunResponseStore checks an [x402http.ResponseStore] against its
// contract: a new key begins, a key in progress or bound to another
// fingerprint is refused, a finished key answers its response, a forgotten
// or expired key begins anew, and of concurrent Begins of one key exactly
// one proceeds. open returns a new, empty store whose clock is now.
func RunResponseStore(t *testing.T, open func(t *testing.T, now func() time.Time) x402http.ResponseStore) {
	now := time.Unix(1_800_000_000, 0)
	s := open(t, func() time.Time { return now })
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
}
