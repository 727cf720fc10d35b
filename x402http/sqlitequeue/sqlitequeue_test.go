package sqlitequeue_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http/sqlitequeue"
)

func request(t *testing.T) *x402.FacilitatorRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "x402", "testdata", "golden", "v2_facilitator_request.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := x402.DecodeFacilitatorRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestQueueLeaseRetryAndPersistence(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "q.db")
	q, err := sqlitequeue.Open(ctx, sqlitequeue.Config{Path: path, Lease: 150 * time.Millisecond, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, "eip155:84532|0xasset|0xpayer|0x01", request(t)); err != nil {
		t.Fatal(err)
	}
	id, got, err := q.Next(ctx)
	if err != nil || got.X402Version != 2 || got.Payload.Accepted.Amount != x402.NewAmount(10000) {
		t.Fatalf("next: %v %+v %v", id, got, err)
	}
	// Leased: not handed out again while the lease runs...
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, _, err := q.Next(short); err == nil {
		t.Fatal("a leased item was handed out twice")
	}
	cancel()
	// ...but after it runs out (the worker died), it is due again.
	id2, _, err := q.Next(ctx)
	if err != nil || id2 != id {
		t.Fatalf("after lease expiry: %q %v", id2, err)
	}
	// A retry is delayed by a backoff.
	if err := q.Done(ctx, id2, &x402.SettleResponse{ErrorReason: x402.ReasonSettlementPending, Network: "eip155:84532"}, true); err != nil {
		t.Fatal(err)
	}
	short, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	if _, _, err := q.Next(short); err == nil {
		t.Fatal("a retried item came back before its backoff")
	}
	cancel()
	if queued, done, failed, err := q.Counts(ctx); err != nil || queued != 1 || done != 0 || failed != 0 {
		t.Fatalf("counts %d %d %d %v", queued, done, failed, err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// It survives a restart, and a success finishes it.
	q2, err := sqlitequeue.Open(ctx, sqlitequeue.Config{Path: path, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	id3, _, err := q2.Next(ctx) // due after the 2 s backoff
	if err != nil || id3 != id {
		t.Fatalf("after restart: %q %v", id3, err)
	}
	if err := q2.Done(ctx, id3, &x402.SettleResponse{Success: true, Transaction: "0x01", Network: "eip155:84532"}, false); err != nil {
		t.Fatal(err)
	}
	if queued, done, failed, err := q2.Counts(ctx); err != nil || queued != 0 || done != 1 || failed != 0 {
		t.Fatalf("counts %d %d %d %v", queued, done, failed, err)
	}
}
