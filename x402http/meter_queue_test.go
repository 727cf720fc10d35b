package x402http_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// TestMeteredServeThenSettle: a metered serve-then-settle route streams
// its answer and queues the settlement of the charge once the handler
// returned; the queue's worker settles exactly that amount, and the
// payment stays used (a replay is refused, also by a middleware sharing
// the queue after a restart).
func TestMeteredServeThenSettle(t *testing.T) {
	schemes := new(x402.Registry[x402.SchemeServer])
	if err := schemes.Register(x402.V2, "capped", "eip155:*", cappedServer{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "q.db")
	open := func() *sqlitequeue.Queue {
		q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: path, PollInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Close() })
		return q
	}
	fac := &cappedFacilitator{}
	build := func(q x402http.Queue) (*x402http.Middleware, *httptest.Server) {
		mw, err := x402http.New(x402http.Config{Facilitator: fac, Schemes: schemes, Queue: q, Routes: []x402http.Route{{
			Pattern: "GET /m", Policy: x402http.ServeThenSettle, MaxTimeoutSeconds: 120,
			Accepts: []x402http.PaymentOption{{Scheme: "capped", Network: "eip155:84532", Price: "$0.0001", PayTo: "0x2222222222222222222222222222222222222222", UnitAmount: x402.NewAmount(3)}},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for i := range 4 {
				fmt.Fprintf(w, "chunk %d\n", i)
				http.NewResponseController(w).Flush()
				_ = x402http.Use(r, 1)
			}
		})))
		t.Cleanup(srv.Close)
		return mw, srv
	}
	mw, srv := build(open())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); _ = mw.RunSettlements(ctx) }()
	defer func() { cancel(); <-done }()

	pay := payHeader(t, srv.URL, "/m", `{"id":"q1"}`)
	e := do(t, "GET", srv.URL, "/m", pay)
	if e.status != 200 || e.body != "chunk 0\nchunk 1\nchunk 2\nchunk 3\n" {
		t.Fatalf("%d %q", e.status, e.body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(fac.amounts()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := fac.amounts(); len(got) != 1 || got[0] != "12" {
		t.Fatalf("settled %v, want [12] (4 units at 3)", got)
	}
	if again := do(t, "GET", srv.URL, "/m", pay); again.status != http.StatusPaymentRequired {
		t.Fatalf("replay: %d", again.status)
	}
	// Another middleware sharing the queue (a restart) refuses it too.
	_, srv2 := build(open())
	if again := do(t, "GET", srv2.URL, "/m", pay); again.status != http.StatusPaymentRequired {
		t.Fatalf("replay after a restart: %d", again.status)
	}
}
