package gateway_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http/sqlitequeue"
)

func TestServeThenSettleBackPressure(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	path := filepath.Join(t.TempDir(), "queue.db")
	// A payment claimed 40 s ago, its 61 s authorization still queued:
	// the queue is behind.
	now := time.Now()
	q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: path, Now: func() time.Time { return now.Add(-40 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	if err := q.Claim(t.Context(), "old", now.Add(21*time.Second)); err != nil {
		t.Fatal(err)
	}
	req := &x402.FacilitatorRequest{X402Version: 2, Payload: &x402.PaymentPayload{X402Version: 2}, Requirements: &x402.PaymentRequirements{}}
	if err := q.Enqueue(t.Context(), "old", req); err != nil {
		t.Fatal(err)
	}
	config := func(queue string) string {
		return fmt.Sprintf("queue: {sqlite: %s%s}\nroutes:\n  - path: /stream/*\n    upstream: %s\n    price: $0.002\n    policy: serve-then-settle\n", path, queue, up.URL)
	}
	g, srv := e.start(t, e.config(t, config("")))
	r, _ := e.pay(t, srv.URL, "/stream/x")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || up.calls.Load() != 0 {
		t.Fatalf("behind: status %d Retry-After %q, upstream called %d times", r.status, r.header.Get("Retry-After"), up.calls.Load())
	}
	// queue.backPressure: 1 turns it off.
	if err := g.Reload(t.Context(), e.config(t, config(", backPressure: 1"))); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.pay(t, srv.URL, "/stream/x"); r.status != http.StatusOK || up.calls.Load() != 1 {
		t.Fatalf("back-pressure off: status %d, upstream called %d times", r.status, up.calls.Load())
	}
}
