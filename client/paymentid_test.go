package client_test

import (
	"bytes"
	"context"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
)

// The server declares payment-identifier and the answer to the first paid
// request is lost after it settled: the client resends the same signed
// payment with the same id, once, and gets the first answer. Paid once,
// counted once.
func TestLostAnswerResentWithPaymentID(t *testing.T) {
	s := newShop(t)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			srv, lost := s.losingServer(t)
			var mu sync.Mutex
			var sent []string
			spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if h := r.Header.Get(x402.HeaderPaymentSignature); h != "" {
					mu.Lock()
					sent = append(sent, h)
					mu.Unlock()
				}
				srv.Config.Handler.ServeHTTP(w, r)
			}))
			t.Cleanup(spy.Close)
			c, signs := s.client(t, client.Policy{Budget: "1"})
			before := s.balance(t, s.payees[0])
			req, _ := http.NewRequestWithContext(t.Context(), method, spy.URL+"/idem", bytes.NewReader([]byte("x")))
			resp, err := c.HTTPClient().Do(req)
			if err != nil {
				t.Fatalf("paid request: %v", err)
			}
			defer resp.Body.Close()
			if body := readAll(t, resp.Body); resp.StatusCode != 200 || body != `{"forecast":"sunny"}` || lost.Load() != 1 {
				t.Fatalf("answer %d %q (lost %d)", resp.StatusCode, body, lost.Load())
			}
			rc, ok := client.ReceiptFromResponse(resp)
			if !ok || !x402.ValidPaymentID(rc.PaymentID) || rc.Settlement == nil || !rc.Settlement.Success {
				t.Fatalf("receipt %+v", rc)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(sent) != 2 || sent[0] != sent[1] || signs.n.Load() != 1 {
				t.Fatalf("%d paid sends (identical: %v), %d signatures; want 2 identical sends of one signature", len(sent), len(sent) == 2 && sent[0] == sent[1], signs.n.Load())
			}
			pp, err := x402.DecodePaymentSignature(sent[0])
			if err != nil {
				t.Fatal(err)
			}
			if p, err := x402.ParsePaymentIdentifier(pp.Extensions); err != nil || p.ID != rc.PaymentID {
				t.Fatalf("payment id in the payment %+v, %v; receipt %q", p, err, rc.PaymentID)
			}
			if got := new(big.Int).Sub(s.balance(t, s.payees[0]), before); got.Cmp(big.NewInt(1000)) != 0 {
				t.Fatalf("payee received %s, want 1000", got)
			}
			if sp, err := c.Spending(t.Context()); err != nil || sp.Spent != "0.001" || sp.Reserved != "0" {
				t.Fatalf("spending %+v %v", sp, err)
			}
		})
	}
}

// A server that does not declare the extension gets no id.
func TestNoPaymentIDUndeclared(t *testing.T) {
	s := newShop(t)
	c, _ := s.client(t, client.Policy{})
	resp, err := s.get(t, c, s.srv.URL+"/weather")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if rc, ok := client.ReceiptFromResponse(resp); !ok || rc.PaymentID != "" {
		t.Fatalf("receipt %+v", rc)
	}
}

// The connection of the paid request drops while the server is still
// processing it; the resend finds it in progress (409, Retry-After), and
// the client asks again until it gets the first request's answer.
func TestResendWaitsForFirstInProgress(t *testing.T) {
	s := newShop(t)
	inner := s.srv.Config.Handler
	var paid atomic.Int64
	firstDone, gate := make(chan struct{}), make(chan struct{})
	var statuses []int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(x402.HeaderPaymentSignature) == "" {
			inner.ServeHTTP(w, r)
			return
		}
		switch paid.Add(1) {
		case 1:
			// Processed in the background, its answer held until the
			// resend was answered; the connection drops at once.
			calls := s.calls.Load()
			go func() {
				defer close(firstDone)
				inner.ServeHTTP(gatedWriter{httptest.NewRecorder(), gate}, r.Clone(context.WithoutCancel(r.Context())))
			}()
			for s.calls.Load() == calls { // the handler runs: the id is in progress
				time.Sleep(5 * time.Millisecond)
			}
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		case 2:
			defer close(gate) // once the resend found the first in progress
		default:
			<-firstDone
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		mu.Lock()
		statuses = append(statuses, rec.Code)
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	c, signs := s.client(t, client.Policy{Budget: "1"})
	before := s.balance(t, s.payees[0])
	resp, err := s.get(t, c, srv.URL+"/idem")
	if err != nil {
		t.Fatalf("paid request: %v", err)
	}
	defer resp.Body.Close()
	if body := readAll(t, resp.Body); resp.StatusCode != 200 || body != `{"forecast":"sunny"}` {
		t.Fatalf("answer %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(statuses) < 2 || statuses[0] != http.StatusConflict || statuses[len(statuses)-1] != 200 || signs.n.Load() != 1 {
		t.Fatalf("resends answered %v, %d signatures; want 409 then 200, one signature", statuses, signs.n.Load())
	}
	if got := new(big.Int).Sub(s.balance(t, s.payees[0]), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Fatalf("payee received %s, want 1000", got)
	}
}

// gatedWriter holds the first write of an answer until gate is closed.
type gatedWriter struct {
	*httptest.ResponseRecorder
	gate <-chan struct{}
}

func (g gatedWriter) Write(b []byte) (int, error) {
	<-g.gate
	return g.ResponseRecorder.Write(b)
}
