package x402http_test

import (
	"io"
	"math/big"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// noRedirects is a client that returns a redirect instead of following it.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// doNoFollow sends GET base+path with header, not following redirects.
func doNoFollow(t *testing.T, base, path string, h http.Header) exchange {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return exchange{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// One payment, one response, charged or not: the same payment header
// presented again after a redirect (charged by default) or a handler error
// (not charged) is refused, under both policies, without running the
// handler again.
func TestPaymentBuysOneResponseWhateverItsStatus(t *testing.T) {
	s := newShop(t)
	for _, policy := range []x402http.Policy{x402http.SettleBeforeServe, x402http.ServeThenSettle} {
		for _, status := range []int{http.StatusFound, http.StatusInternalServerError, http.StatusNotFound} {
			var ran atomic.Int64
			q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
			_, srv := s.serve(t, x402http.Config{Queue: q, Routes: []x402http.Route{{Pattern: "GET /x", Policy: policy, Accepts: s.option("$0.001")}}},
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					ran.Add(1)
					w.Header().Set("Location", "/elsewhere")
					w.WriteHeader(status)
				}))
			h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, required(t, do(t, http.MethodGet, srv.URL, "/x", nil)))}}
			if e := doNoFollow(t, srv.URL, "/x", h); e.status != status {
				t.Fatalf("policy %d, status %d: first answer %d %s", policy, status, e.status, e.body)
			}
			for i := range 2 {
				e := doNoFollow(t, srv.URL, "/x", h)
				if e.status != http.StatusPaymentRequired || required(t, e).Error != "payment already used for another request" {
					t.Fatalf("policy %d, status %d: the same payment again (%d): %d %s", policy, status, i, e.status, e.body)
				}
			}
			if ran.Load() != 1 {
				t.Fatalf("policy %d, status %d: handler ran %d times", policy, status, ran.Load())
			}
		}
	}
}

// A redirect is charged by default (settled before it is sent); a handler
// error is not.
func TestRedirectIsChargedByDefault(t *testing.T) {
	s := newShop(t)
	before := s.balance(t)
	e := doNoFollow(t, s.srv.URL, "/moved", http.Header{x402.HeaderPaymentSignature: {s.payment(t, s.offer(t, "/moved"))}})
	if e.status != http.StatusFound || e.header.Get(x402.HeaderPaymentResponse) == "" {
		t.Fatalf("redirect: %d, PAYMENT-RESPONSE %q", e.status, e.header.Get(x402.HeaderPaymentResponse))
	}
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Fatalf("payee received %s for a redirect, want 1000", got)
	}
}

// A payment not charged stays claimed in the durable queue too: a server
// restarted on the queue (its memory empty) refuses it.
func TestUnchargedPaymentStaysClaimedAcrossRestart(t *testing.T) {
	s := newShop(t)
	path := filepath.Join(t.TempDir(), "q.db")
	routes := []x402http.Route{{Pattern: "GET /x", Accepts: s.option("$0.001")}}
	var ran atomic.Int64
	failing := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran.Add(1)
		http.Error(w, "try again", http.StatusServiceUnavailable)
	})
	_, srv := s.serve(t, x402http.Config{Queue: openQueue(t, path), Routes: routes}, failing)
	h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, required(t, do(t, http.MethodGet, srv.URL, "/x", nil)))}}
	if e := do(t, http.MethodGet, srv.URL, "/x", h); e.status != http.StatusServiceUnavailable {
		t.Fatalf("failing handler: %d %s", e.status, e.body)
	}
	_, restarted := s.serve(t, x402http.Config{Queue: openQueue(t, path), Routes: routes}, failing)
	if e := do(t, http.MethodGet, restarted.URL, "/x", h); e.status != http.StatusPaymentRequired {
		t.Fatalf("the same payment after a restart: %d %s", e.status, e.body)
	}
	if ran.Load() != 1 {
		t.Fatalf("handler ran %d times", ran.Load())
	}
}

// Route.Charge decides which statuses are charged, under both policies.
func TestRouteChargeSetting(t *testing.T) {
	s := newShop(t)
	only200 := func(status int) bool { return status == http.StatusOK }
	with404 := func(status int) bool { return status >= 200 && status <= 299 || status == http.StatusNotFound }
	for _, tc := range []struct {
		charge  func(int) bool
		status  int
		charged bool
	}{
		{nil, http.StatusFound, true},
		{nil, http.StatusNotModified, true},
		{nil, http.StatusNotFound, false},
		{only200, http.StatusFound, false},
		{only200, http.StatusOK, true},
		{with404, http.StatusNotFound, true},
		{with404, http.StatusInternalServerError, false},
	} {
		for _, policy := range []x402http.Policy{x402http.SettleBeforeServe, x402http.ServeThenSettle} {
			q := openQueue(t, filepath.Join(t.TempDir(), "q.db"))
			mw, srv := s.serve(t, x402http.Config{Queue: q, Routes: []x402http.Route{{Pattern: "GET /x", Policy: policy, Charge: tc.charge, Accepts: s.option("$0.001")}}},
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.status) }))
			before := s.balance(t)
			e := doNoFollow(t, srv.URL, "/x", http.Header{x402.HeaderPaymentSignature: {s.payment(t, required(t, do(t, http.MethodGet, srv.URL, "/x", nil)))}})
			if e.status != tc.status {
				t.Fatalf("policy %d, status %d: answered %d %s", policy, tc.status, e.status, e.body)
			}
			if policy == x402http.ServeThenSettle {
				queued, _, _, err := q.Counts(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if (queued == 1) != tc.charged {
					t.Errorf("policy %d, status %d: %d settlements queued, charged %v", policy, tc.status, queued, tc.charged)
				}
				if queued == 1 {
					settleAll(t, mw, q, 1)
				}
			} else if (e.header.Get(x402.HeaderPaymentResponse) != "") != tc.charged {
				t.Errorf("policy %d, status %d: PAYMENT-RESPONSE %q, charged %v", policy, tc.status, e.header.Get(x402.HeaderPaymentResponse), tc.charged)
			}
			want := big.NewInt(0)
			if tc.charged {
				want = big.NewInt(1000)
			}
			if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(want) != 0 {
				t.Errorf("policy %d, status %d: payee received %s, want %s", policy, tc.status, got, want)
			}
		}
	}
}
