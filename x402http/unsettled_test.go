package x402http_test

import (
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// nonReserving is the shop's real facilitator seen as one that does not
// reserve a payer's funds between verify and settle (as the x402.org
// facilitator): embedding the interface hides every other method.
type nonReserving struct{ x402.Facilitator }

// reserving is the shop's real facilitator declaring that it reserves
// funds.
type reserving struct{ x402.Facilitator }

func (reserving) ReservesFunds() bool { return true }

// payConcurrently sends n distinct payments of one payer at once to path
// and returns how many were served and the errors of the refused ones.
func payConcurrently(t *testing.T, s *shop, base, path string, n int) (int, []string) {
	t.Helper()
	pr := required(t, do(t, http.MethodGet, base, path, nil))
	headers := make([]http.Header, n)
	for i := range headers {
		headers[i] = http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}}
	}
	var mu sync.Mutex
	served, refused := 0, []string{}
	var wg sync.WaitGroup
	for _, h := range headers {
		wg.Go(func() {
			e := do(t, http.MethodGet, base, path, h)
			mu.Lock()
			defer mu.Unlock()
			switch e.status {
			case http.StatusOK:
				served++
			case http.StatusPaymentRequired:
				pr, err := x402.DecodePaymentRequired(e.header.Get(x402.HeaderPaymentRequired))
				if err != nil {
					t.Errorf("402 without PAYMENT-REQUIRED: %v", err)
					return
				}
				refused = append(refused, pr.Error)
			default:
				t.Errorf("status %d %s", e.status, e.body)
			}
		})
	}
	wg.Wait()
	return served, refused
}

// With a facilitator that does not reserve funds, a serve-then-settle
// route serves one payer one unsettled payment at a time: five distinct
// authorizations sent at once (which such a facilitator all verifies
// against the same balance) buy one response, the others are refused with
// payer_has_unsettled_payment; once the payment settled, the payer is
// served again.
func TestServeThenSettleOneUnsettledPaymentPerPayer(t *testing.T) {
	s := newShop(t)
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
	var ran atomic.Int64
	mw, srv := s.serve(t, x402http.Config{Facilitator: nonReserving{s.fac}, Queue: q,
		Routes: []x402http.Route{{Pattern: "GET /a", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")}}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ran.Add(1)
			io.WriteString(w, "PAID CONTENT")
		}))
	served, refused := payConcurrently(t, s, srv.URL, "/a", 5)
	if served != 1 || len(refused) != 4 || ran.Load() != 1 {
		t.Fatalf("%d served, %d refused, handler ran %d times; want 1, 4, 1", served, len(refused), ran.Load())
	}
	for _, msg := range refused {
		if msg != string(x402.ReasonPayerHasUnsettledPayment) {
			t.Errorf("refused with %q, want %q", msg, x402.ReasonPayerHasUnsettledPayment)
		}
	}
	settleAll(t, mw, q, 1)
	// Settled: the payer may have another payment served (and one only).
	if served, refused := payConcurrently(t, s, srv.URL, "/a", 2); served != 1 || len(refused) != 1 {
		t.Fatalf("after settling: %d served, %d refused; want 1, 1", served, len(refused))
	}
}

// A route's answer that is not charged (nothing queued) ends its payer's
// unsettled hold at once: the payer's next payment is served.
func TestUnsettledHoldEndsWithUnchargedAnswer(t *testing.T) {
	s := newShop(t)
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
	var calls atomic.Int64
	_, srv := s.serve(t, x402http.Config{Facilitator: nonReserving{s.fac}, Queue: q,
		Routes: []x402http.Route{{Pattern: "GET /a", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")}}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				http.Error(w, "try again", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ok")
		}))
	pr := required(t, do(t, http.MethodGet, srv.URL, "/a", nil))
	if e := do(t, http.MethodGet, srv.URL, "/a", http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}}); e.status != http.StatusServiceUnavailable {
		t.Fatalf("failing handler: %d %s", e.status, e.body)
	}
	if e := do(t, http.MethodGet, srv.URL, "/a", http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}}); e.status != http.StatusOK {
		t.Fatalf("next payment: %d %s", e.status, e.body)
	}
}

// The limit: MaxUnsettledPerPayer, 1 by default, none by default for a
// facilitator that reserves funds, none when negative.
func TestMaxUnsettledPerPayer(t *testing.T) {
	s := newShop(t)
	// facilitator/remote on the real facilitator service over loopback,
	// told whether it reserves funds.
	url := s.stack.FacilitatorURL(t)
	remoteClient := func(reserves bool) x402.Facilitator {
		c, err := remote.New(remote.Config{URL: url, ReservesFunds: reserves})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name  string
		fac   x402.Facilitator
		limit int
		want  int
	}{
		{"default, not reserving", nonReserving{s.fac}, 0, 1},
		{"two, not reserving", nonReserving{s.fac}, 2, 2},
		{"no limit", nonReserving{s.fac}, -1, 4},
		{"default, reserving", reserving{s.fac}, 0, 4},
		{"one, reserving", reserving{s.fac}, 1, 1},
		{"remote, not reserving", remoteClient(false), 0, 1},
		{"remote, reserving", remoteClient(true), 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
			_, srv := s.serve(t, x402http.Config{Facilitator: tc.fac, Queue: q, MaxUnsettledPerPayer: tc.limit,
				Routes: []x402http.Route{{Pattern: "GET /a", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")}}},
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "PAID CONTENT") }))
			if served, refused := payConcurrently(t, s, srv.URL, "/a", 4); served != tc.want || served+len(refused) != 4 {
				t.Fatalf("%d served, %d refused; want %d served", served, len(refused), tc.want)
			}
		})
	}
}

// Payers are counted apart, and settle-before-serve routes not at all.
func TestUnsettledLimitIsPerPayerAndServeThenSettleOnly(t *testing.T) {
	s := newShop(t)
	q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
	_, srv := s.serve(t, x402http.Config{Facilitator: nonReserving{s.fac}, Queue: q,
		Routes: []x402http.Route{
			{Pattern: "GET /sts", Policy: x402http.ServeThenSettle, Accepts: s.option("$0.001")},
			{Pattern: "GET /sbs", Accepts: s.option("$0.001")},
		}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "PAID CONTENT") }))
	if served, _ := payConcurrently(t, s, srv.URL, "/sts", 1); served != 1 {
		t.Fatalf("first payment refused")
	}
	// The payer's serve-then-settle payment is unsettled: settle-before-
	// serve routes still serve it.
	if served, _ := payConcurrently(t, s, srv.URL, "/sbs", 3); served != 3 {
		t.Fatalf("settle-before-serve: %d of 3 served", served)
	}
	// Another payer is not held back by the first.
	other := s.otherPayer(t)
	pr := required(t, do(t, http.MethodGet, srv.URL, "/sts", nil))
	if e := do(t, http.MethodGet, srv.URL, "/sts", http.Header{x402.HeaderPaymentSignature: {other.payment(t, pr)}}); e.status != http.StatusOK {
		t.Fatalf("another payer: %d %s", e.status, e.body)
	}
}
