package x402http_test

import (
	"context"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// slowChain is a paid serve-then-settle API on a devnet that mines one
// block every 2 s, as a busy L2 would, whatever the load.
type slowChain struct {
	st     *stacktest.Stack
	qpath  string
	client *evm.ExactClient
	served atomic.Int64
}

func newSlowChain(t testing.TB) *slowChain {
	t.Helper()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{ChainID: 84532, Accounts: 4, BlockTime: 2 * time.Second, NoAutoMine: true}})
	signer, err := evm.NewPrivateKeySignerFromECDSA(st.Accounts[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	client, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	return &slowChain{st: st, qpath: filepath.Join(t.TempDir(), "queue.db"), client: client}
}

// queue opens a handle on the chain's settlement queue.
func (c *slowChain) queue(t testing.TB, now func() time.Time) *sqlitequeue.Queue {
	t.Helper()
	q, err := sqlitequeue.Open(context.Background(), sqlitequeue.Config{Path: c.qpath, PollInterval: 20 * time.Millisecond, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// serve serves GET /paid, serve-then-settle with 61 s authorizations,
// through a middleware built from cfg.
func (c *slowChain) serve(t testing.TB, cfg x402http.Config) (*x402http.Middleware, *httptest.Server) {
	t.Helper()
	cfg.Routes = []x402http.Route{{Pattern: "GET /paid", Policy: x402http.ServeThenSettle, MaxTimeoutSeconds: 61,
		Accepts: []x402http.PaymentOption{c.st.Option("$0.001", c.st.Accounts[1].Address.Hex())}}}
	return c.st.Serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.served.Add(1)
		io.WriteString(w, "paid content")
	}))
}

// offer returns the requirement of srv's GET /paid.
func (c *slowChain) offer(t testing.TB, srv *httptest.Server) x402.PaymentRequirements {
	t.Helper()
	resp, err := http.Get(srv.URL + "/paid")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	return pr.Accepts[0]
}

// pay signs a new payment (a fresh nonce) for req.
func (c *slowChain) pay(t testing.TB, req x402.PaymentRequirements) string {
	t.Helper()
	obj, err := c.client.CreatePayload(context.Background(), 2, req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// request is a settle request of a new payment for req.
func (c *slowChain) request(t testing.TB, req x402.PaymentRequirements) *x402.FacilitatorRequest {
	t.Helper()
	p, err := x402.DecodePaymentSignature(c.pay(t, req))
	if err != nil {
		t.Fatal(err)
	}
	return &x402.FacilitatorRequest{X402Version: 2, Payload: p, Requirements: &req}
}

// get requests GET /paid with payment and returns the answer's status and
// Retry-After.
func get(t testing.TB, srv *httptest.Server, payment string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/paid", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(x402.HeaderPaymentSignature, payment)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func (c *slowChain) payeeBalance(t testing.TB) *big.Int {
	t.Helper()
	b, err := c.st.Devnet.BalanceOf(context.Background(), c.st.Accounts[1].Address)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestQueuedSettlementsOnSlowBlocksAllSettleBeforeExpiry(t *testing.T) {
	// 36 payments served at once on a chain mining a block every 2 s,
	// with 61 s authorizations: settled one by one, a settlement per
	// block or two, the last ones expire unpaid. The pool settles them
	// all.
	c := newSlowChain(t)
	q := watch(c.queue(t, nil))
	mw, srv := c.serve(t, x402http.Config{Queue: q})
	req := c.offer(t, srv)
	before := c.payeeBalance(t)
	const n = 36
	for i := range n {
		if status, _ := get(t, srv, c.pay(t, req)); status != http.StatusOK {
			t.Fatalf("payment %d: status %d", i, status)
		}
	}
	settleAll(t, mw, q, n) // fails on the first settlement that fails
	if got, want := new(big.Int).Sub(c.payeeBalance(t), before), big.NewInt(n*1000); got.Cmp(want) != 0 {
		t.Errorf("payee received %s, want %s", got, want)
	}
	queued, done, failed, err := q.Counts(t.Context())
	if err != nil || queued != 0 || done != n || failed != 0 {
		t.Errorf("queue: %d queued, %d done, %d failed (%v)", queued, done, failed, err)
	}
}

func TestServeThenSettleBackPressure(t *testing.T) {
	c := newSlowChain(t)
	now := time.Now()
	// A payment claimed 40 s ago whose 61 s authorization is still
	// queued: the queue is behind (40/61 of its time used, more than
	// half).
	old := c.queue(t, func() time.Time { return now.Add(-40 * time.Second) })
	if err := old.Claim(t.Context(), "old", now.Add(21*time.Second)); err != nil {
		t.Fatal(err)
	}
	q := c.queue(t, nil)
	_, srv := c.serve(t, x402http.Config{Queue: q})
	req := c.offer(t, srv)
	if err := old.Enqueue(t.Context(), "old", c.request(t, req)); err != nil {
		t.Fatal(err)
	}
	payment := c.pay(t, req)
	status, retryAfter := get(t, srv, payment)
	if status != http.StatusServiceUnavailable || retryAfter == "" {
		t.Fatalf("behind: status %d Retry-After %q, want 503 with Retry-After", status, retryAfter)
	}
	if c.served.Load() != 0 {
		t.Fatal("the handler ran while the queue was behind")
	}
	// The queue catches up (the old item is finished): the same payment,
	// which was not used, is served. A fresh middleware reads the queue
	// afresh.
	id, _, err := q.Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Done(t.Context(), id, &x402.SettleResponse{Success: true}, false); err != nil {
		t.Fatal(err)
	}
	_, srv2 := c.serve(t, x402http.Config{Queue: q})
	if status, _ := get(t, srv2, payment); status != http.StatusOK || c.served.Load() != 1 {
		t.Fatalf("caught up: status %d, handler ran %d times", status, c.served.Load())
	}
	// A queue whose oldest payment used less than half its time is not
	// behind.
	recent := c.queue(t, func() time.Time { return now.Add(-20 * time.Second) })
	if err := recent.Claim(t.Context(), "recent", now.Add(41*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := recent.Enqueue(t.Context(), "recent", c.request(t, req)); err != nil {
		t.Fatal(err)
	}
	_, srv3 := c.serve(t, x402http.Config{Queue: q})
	if status, _ := get(t, srv3, c.pay(t, req)); status != http.StatusOK || c.served.Load() != 2 {
		t.Fatalf("not behind: status %d, handler ran %d times", status, c.served.Load())
	}
}

// settleCounter counts the settlements the facilitator it wraps is asked for.
type settleCounter struct {
	x402.Facilitator
	settles atomic.Int64
}

func (f *settleCounter) Settle(ctx context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.settles.Add(1)
	return f.Facilitator.Settle(ctx, req)
}

func TestExpiredQueuedSettlementIsDroppedAndCounted(t *testing.T) {
	c := newSlowChain(t)
	fac := &settleCounter{Facilitator: c.st.Facilitator}
	q := watch(c.queue(t, nil))
	mw, srv := c.serve(t, x402http.Config{Queue: q, Facilitator: fac})
	req := c.offer(t, srv)
	// A payment claimed 70 s ago whose 61 s authorization expired 9 s
	// ago, still queued (the server was down meanwhile).
	now := time.Now()
	old := c.queue(t, func() time.Time { return now.Add(-70 * time.Second) })
	if err := old.Claim(t.Context(), "expired", now.Add(-9*time.Second)); err != nil {
		t.Fatal(err)
	}
	// Signed then: its validBefore is 9 s ago too.
	signer, err := evm.NewPrivateKeySignerFromECDSA(c.st.Accounts[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	then, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer, Now: func() time.Time { return now.Add(-70 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := then.CreatePayload(t.Context(), 2, req)
	if err != nil {
		t.Fatal(err)
	}
	expired := &x402.FacilitatorRequest{X402Version: 2, Payload: &x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: obj}, Requirements: &req}
	if err := old.Enqueue(t.Context(), "expired", expired); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan error, 1)
	go func() { stopped <- mw.RunSettlements(ctx) }()
	select {
	case <-q.done:
	case <-time.After(time.Minute):
		t.Fatal("the expired item was never finished")
	}
	cancel()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n := fac.settles.Load(); n != 0 {
		t.Errorf("the facilitator was asked to settle an expired authorization %d times", n)
	}
	if st := mw.SettlementStats(); st.Expired != 1 || st.Settled != 0 {
		t.Errorf("stats %+v, want 1 expired", st)
	}
	if queued, done, failed, err := q.Counts(t.Context()); err != nil || queued != 0 || done != 0 || failed != 1 {
		t.Errorf("queue: %d queued, %d done, %d failed (%v)", queued, done, failed, err)
	}
}
