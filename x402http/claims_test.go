package x402http_test

import (
	"context"
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// openQueue opens another handle on a queue file: another process, or the
// same one after a restart.
func openQueue(t *testing.T, path string) *watchedQueue {
	t.Helper()
	q, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: path, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return watch(q)
}

// watchedQueue is a real queue that reports each item a settlement worker
// finishes with (Done), so that tests wait for settlements without polling.
type watchedQueue struct {
	*sqlitequeue.Queue
	done chan struct{}
}

func watch(q *sqlitequeue.Queue) *watchedQueue {
	return &watchedQueue{Queue: q, done: make(chan struct{}, 1)}
}

func (q *watchedQueue) Done(ctx context.Context, id string, resp *x402.SettleResponse, retry bool) error {
	err := q.Queue.Done(ctx, id, resp, retry)
	select {
	case q.done <- struct{}{}:
	default: // a signal is pending already: the waiter re-reads the counts
	}
	return err
}

// waitSettled waits until the queue has done items and none queued,
// re-reading its counts each time a worker finishes with an item, and
// fails the test if one fails or none finishes for a long while.
func waitSettled(t *testing.T, q *watchedQueue, done int) {
	t.Helper()
	for {
		queued, ok, failed, err := q.Counts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok == done && queued == 0 {
			return
		}
		if failed > 0 {
			t.Fatalf("queue: %d queued, %d done, %d failed", queued, ok, failed)
		}
		select {
		case <-q.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("queue: %d queued, %d done, %d failed, and no settlement finished for 30 s", queued, ok, failed)
		}
	}
}

// settleAll runs the settlement worker of mw until the queue has done
// items, then stops it.
func settleAll(t *testing.T, mw *x402http.Middleware, q *watchedQueue, done int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- mw.RunSettlements(ctx) }()
	waitSettled(t, q, done)
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// A serve-then-settle payment is served once, even after a restart (the
// in-memory claims are gone) and by servers sharing the queue.
func TestServeThenSettleOnePaymentAcrossRestartsAndReplicas(t *testing.T) {
	s := newShop(t)
	var served atomic.Int64
	content := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "PAID CONTENT")
	})
	routes := []x402http.Route{{Pattern: "GET /stream", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")}}
	before := s.balance(t)

	pr := s.offer(t, "/stream")
	h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}}
	if e := do(t, http.MethodGet, s.srv.URL, "/stream", h); e.status != http.StatusOK {
		t.Fatalf("first: %d %s", e.status, e.body)
	}
	base := s.calls["/stream"].Load()

	// Restart: a new middleware, its claims empty, on the same queue file.
	_, restarted := s.serve(t, x402http.Config{Queue: openQueue(t, s.qpath), Routes: routes}, content)
	e := do(t, http.MethodGet, restarted.URL, "/stream", h)
	// Refused by the queue's claim, or by the facilitator, which holds
	// the verified authorization reserved until it settles.
	if e.status != http.StatusPaymentRequired || !slices.Contains([]string{"payment already used for another request", string(x402.ReasonDuplicateSettlement)}, required(t, e).Error) {
		t.Fatalf("replayed after a restart: %d %s", e.status, e.body)
	}
	if served.Load() != 0 || base != 1 {
		t.Fatalf("served %d times after the restart (%d before)", served.Load(), base)
	}

	// Replicas: two servers, each with its own queue handle on the file,
	// get copies of one payment at once. One response is served.
	var srvs []string
	for range 2 {
		_, srv := s.serve(t, x402http.Config{Queue: openQueue(t, s.qpath), Routes: routes}, content)
		srvs = append(srvs, srv.URL)
	}
	h2 := http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			switch e := do(t, http.MethodGet, srvs[i%2], "/stream", h2); e.status {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusPaymentRequired:
				refused.Add(1)
			default:
				t.Errorf("status %d %s", e.status, e.body)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || refused.Load() != 7 || served.Load() != 1 {
		t.Fatalf("%d served, %d refused, handler ran %d times", ok.Load(), refused.Load(), served.Load())
	}

	// Two payments were queued, each once; both settle.
	if queued, _, _, err := s.queue.Counts(t.Context()); err != nil || queued != 2 {
		t.Fatalf("queued %d %v", queued, err)
	}
	settleAll(t, s.mw, s.queue, 2)
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(2000)) != 0 {
		t.Fatalf("payee received %s, want 2000", got)
	}
}

// With a shared queue, settle-before-serve routes are claimed there too: a
// copy of a payment sent to another server while the first one is still
// serving it gets 402.
func TestSettleBeforeServeClaimsInSharedQueue(t *testing.T) {
	s := newShop(t)
	routes := []x402http.Route{{Pattern: "GET /report", Accepts: s.option("$0.001")}}
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var served atomic.Int64
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			// The first response is slow: it is still being served when
			// the copy arrives.
			entered <- struct{}{}
			<-release
		}
		io.WriteString(w, "report")
	})
	_, a := s.serve(t, x402http.Config{Queue: openQueue(t, s.qpath), Routes: routes}, slow)
	_, b := s.serve(t, x402http.Config{Queue: openQueue(t, s.qpath), Routes: routes}, slow)
	before := s.balance(t)
	pr := required(t, do(t, http.MethodGet, a.URL, "/report", nil))
	h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}}

	first := make(chan exchange, 1)
	go func() { first <- do(t, http.MethodGet, a.URL, "/report", h) }()
	<-entered // server a verified the payment and runs the handler
	e := do(t, http.MethodGet, b.URL, "/report", h)
	close(release)
	if e.status != http.StatusPaymentRequired {
		t.Fatalf("copy on the other server: %d %s", e.status, e.body)
	}
	if f := <-first; f.status != http.StatusOK || f.body != "report" || f.header.Get(x402.HeaderPaymentResponse) == "" {
		t.Fatalf("first: %d %s", f.status, f.body)
	}
	if served.Load() != 1 {
		t.Fatalf("served %d times", served.Load())
	}
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Fatalf("payee received %s", got)
	}
}

// A serve-then-settle handler that answers after the payment's
// authorization expired is not served: the settlement could only fail.
func TestServeThenSettleRefusesExpiredPayment(t *testing.T) {
	s := newShop(t)
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
	_, srv := s.serve(t, x402http.Config{Queue: q, Now: now, Routes: []x402http.Route{{Pattern: "GET /slow", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")}}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			skew.Store(int64(time.Hour)) // the handler took an hour
			io.WriteString(w, "PAID CONTENT")
		}))
	h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, required(t, do(t, http.MethodGet, srv.URL, "/slow", nil)))}}
	e := do(t, http.MethodGet, srv.URL, "/slow", h)
	if e.status != http.StatusPaymentRequired || e.body == "PAID CONTENT" {
		t.Fatalf("%d %q", e.status, e.body)
	}
	if queued, _, _, err := q.Counts(t.Context()); err != nil || queued != 0 {
		t.Fatalf("queued %d %v", queued, err)
	}
}

// TestServeThenSettleRefusesPaymentAboutToExpire: a payment that would
// expire before the queue could settle it (the facilitator refuses an
// authorization with only seconds left) is refused before the handler
// runs: it would be served and never paid.
func TestServeThenSettleRefusesPaymentAboutToExpire(t *testing.T) {
	s := newShop(t)
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
	var served atomic.Int64
	_, srv := s.serve(t, x402http.Config{Queue: q, Now: now, Routes: []x402http.Route{{Pattern: "GET /a", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")}}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served.Add(1)
			io.WriteString(w, "PAID CONTENT")
		}))
	h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, required(t, do(t, http.MethodGet, srv.URL, "/a", nil)))}}
	// The payment is valid for the route's 300 s; 280 s later only 20 s
	// are left.
	skew.Store(int64(280 * time.Second))
	e := do(t, http.MethodGet, srv.URL, "/a", h)
	if e.status != http.StatusPaymentRequired || served.Load() != 0 {
		t.Fatalf("status %d %q, handler ran %d times", e.status, e.body, served.Load())
	}
	if queued, _, _, err := q.Counts(t.Context()); err != nil || queued != 0 {
		t.Fatalf("queued %d %v", queued, err)
	}
	// With time to settle, the same payment is served.
	skew.Store(0)
	if e := do(t, http.MethodGet, srv.URL, "/a", h); e.status != http.StatusOK || served.Load() != 1 {
		t.Fatalf("status %d %q, handler ran %d times", e.status, e.body, served.Load())
	}
}

func TestServeThenSettleNeedsTimeToSettle(t *testing.T) {
	s := newShop(t)
	_, err := x402http.New(x402http.Config{Facilitator: s.fac, Schemes: s.schemes(t), Queue: s.queue,
		Routes: []x402http.Route{{Pattern: "GET /a", Policy: x402http.ServeThenSettle, MaxTimeoutSeconds: 45, Accepts: s.option("$0.001")}}})
	if err == nil {
		t.Fatal("a serve-then-settle route valid for 45 s was accepted")
	}
}

// TestServeThenSettleHandlerPanicAfterServing: a handler that sends its
// success status and then panics has served the content: the queued
// settlement survives, settles, and copies of the payment stay refused.
func TestServeThenSettleHandlerPanicAfterServing(t *testing.T) {
	s := newShop(t)
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
	mw, srv := s.serve(t, x402http.Config{Queue: q, Routes: []x402http.Route{{Pattern: "GET /a", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")}}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "PAID CONTENT")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the connection is cut after the content left
		}))
	before := s.balance(t)
	h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, required(t, do(t, http.MethodGet, srv.URL, "/a", nil)))}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body) // the body may be cut short
		resp.Body.Close()
	}
	if queued, _, _, err := q.Counts(t.Context()); err != nil || queued != 1 {
		t.Fatalf("queued %d %v: the served payment's settlement was lost", queued, err)
	}
	if e := do(t, http.MethodGet, srv.URL, "/a", h); e.status != http.StatusPaymentRequired {
		t.Fatalf("a copy of the payment: %d %s", e.status, e.body)
	}
	settleAll(t, mw, q, 1)
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Fatalf("payee received %s, want 1000", got)
	}
}
