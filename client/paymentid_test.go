package client_test

import (
	"bytes"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

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
