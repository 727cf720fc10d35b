package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/x402"
)

func TestPaidGET(t *testing.T) {
	s := newShop(t)
	c, sig := s.client(t, client.Policy{MaxPerRequest: "$0.01"})
	before := s.balance(t, s.payees[0])
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.srv.URL+"/weather", nil)
	req.Header.Set("X-Custom", "kept")
	hc := c.HTTPClient()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body := readAll(t, resp.Body); resp.StatusCode != 200 || !strings.Contains(body, "sunny") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got := new(big.Int).Sub(s.balance(t, s.payees[0]), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s, want 1000", got)
	}
	if sig.n.Load() != 1 {
		t.Errorf("%d signatures, want 1", sig.n.Load())
	}
	// The caller's request is untouched.
	if req.Header.Get(x402.HeaderPaymentSignature) != "" || req.Header.Get("X-Custom") != "kept" || len(req.Header) != 1 {
		t.Errorf("caller's request was modified: %v", req.Header)
	}
	if hc.Transport != c {
		t.Error("HTTPClient does not use the Client")
	}

	r, ok := client.ReceiptFromResponse(resp)
	if !ok {
		t.Fatal("no receipt")
	}
	if r.Payer != s.payer.Address.Hex() || r.Option.Price != "0.001 USDC" || r.Option.Version != 2 ||
		r.Option.Requirements.PayTo != s.payees[0].Hex() || r.Option.Asset.Symbol != "USDC" {
		t.Errorf("receipt %+v", r)
	}
	if r.Settlement == nil || !r.Settlement.Success || !strings.HasPrefix(r.Settlement.Transaction, "0x") || r.Settlement.Network != "eip155:84532" {
		t.Errorf("settlement %+v", r.Settlement)
	}
	sp, err := c.Spending(t.Context())
	if err != nil || sp.Spent != "0.001" || sp.Reserved != "0" || sp.Payments != 1 || sp.Hosts[strings.TrimPrefix(s.srv.URL, "http://")] != "0.001" {
		t.Errorf("spending %+v %v", sp, err)
	}

	// A free resource costs nothing and has no receipt.
	free, err := s.get(t, c, s.srv.URL+"/open")
	if err != nil || free.StatusCode != 200 {
		t.Fatalf("free: %v", err)
	}
	if _, ok := client.ReceiptFromResponse(free); ok {
		t.Error("receipt on a free response")
	}
	if sig.n.Load() != 1 {
		t.Error("free resource was signed for")
	}
}

// onceReader is a body without GetBody.
type onceReader struct{ io.Reader }

func (onceReader) Close() error { return nil }

func TestPaidPOSTReplaysBody(t *testing.T) {
	s := newShop(t)
	c, _ := s.client(t, client.Policy{})
	for name, mk := range map[string]func() *http.Request{
		"GetBody": func() *http.Request {
			r, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.srv.URL+"/echo", strings.NewReader(`{"q":"GetBody"}`))
			return r
		},
		"buffered": func() *http.Request {
			r, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.srv.URL+"/echo", nil)
			r.Body = onceReader{strings.NewReader(`{"q":"buffered"}`)}
			r.ContentLength = -1
			return r
		},
	} {
		t.Run(name, func(t *testing.T) {
			req := mk()
			resp, err := c.HTTPClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			want := `{"q":"` + name + `"}`
			if body := readAll(t, resp.Body); resp.StatusCode != 200 || body != "echo:"+want {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			if _, ok := client.ReceiptFromResponse(resp); !ok {
				t.Error("no receipt")
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if last := s.bodies[len(s.bodies)-1]; last != want {
				t.Errorf("handler saw %q", last)
			}
		})
	}
}

func TestBodyTooLargeToReplay(t *testing.T) {
	s := newShop(t)
	sig := signer(t, s.payer)
	c, err := client.NewEVM(sig, client.Config{Assets: s.assets, MaxBodyBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.srv.URL+"/echo", nil)
	req.Body = onceReader{strings.NewReader("more than four bytes")}
	req.ContentLength = -1
	_, err = c.HTTPClient().Do(req)
	if !errors.Is(err, client.ErrBodyNotReplayable) || sig.n.Load() != 0 {
		t.Fatalf("err %v, %d signatures", err, sig.n.Load())
	}
}

func TestCheapestOptionIsPaid(t *testing.T) {
	s := newShop(t)
	c, _ := s.client(t, client.Policy{})
	b0, b1 := s.balance(t, s.payees[0]), s.balance(t, s.payees[1])
	resp, err := s.get(t, c, s.srv.URL+"/two")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v", err)
	}
	r, _ := client.ReceiptFromResponse(resp)
	if r == nil || r.Option.Requirements.PayTo != s.payees[1].Hex() || r.Option.Price != "0.001 USDC" {
		t.Fatalf("receipt %+v", r)
	}
	if s.balance(t, s.payees[0]).Cmp(b0) != 0 {
		t.Error("the dearer option's payee was paid")
	}
	if got := new(big.Int).Sub(s.balance(t, s.payees[1]), b1); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("cheaper payee received %s", got)
	}

	// A Prefer function overrides the order.
	dearest := func(a, b client.Option) int { return -client.Cheapest(a, b) }
	c2, err := client.NewEVM(signer(t, s.payer), client.Config{Assets: s.assets, Prefer: dearest})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = s.get(t, c2, s.srv.URL+"/two")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v", err)
	}
	if r, _ := client.ReceiptFromResponse(resp); r.Option.Requirements.PayTo != s.payees[0].Hex() {
		t.Errorf("Prefer ignored: paid %s", r.Option.Price)
	}
}

func TestV1Server(t *testing.T) {
	s := newShop(t)
	c, sig := s.client(t, client.Policy{MaxPerRequest: "0.01 USDC", AllowNetworks: []x402.Network{"eip155:84532"}})
	before := s.balance(t, s.payees[1])
	resp, err := s.get(t, c, s.v1.URL+"/report")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp.Body); resp.StatusCode != 200 || body != "legacy report" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	r, ok := client.ReceiptFromResponse(resp)
	if !ok || r.Option.Version != 1 || r.Option.Price != "0.002 USDC" || r.Option.Requirements.Network != "eip155:84532" {
		t.Fatalf("receipt %+v", r)
	}
	if r.Settlement == nil || !r.Settlement.Success || r.Settlement.Network != "base-sepolia" || r.Settlement.Transaction == "" {
		t.Errorf("X-PAYMENT-RESPONSE %+v", r.Settlement)
	}
	if got := new(big.Int).Sub(s.balance(t, s.payees[1]), before); got.Cmp(big.NewInt(2000)) != 0 {
		t.Errorf("payee received %s", got)
	}
	if sig.n.Load() != 1 {
		t.Errorf("%d signatures", sig.n.Load())
	}
}

func TestSettlementFailureIsRejectedAndNotCharged(t *testing.T) {
	s := newShop(t)
	c, _ := s.client(t, client.Policy{Budget: "0.001"})
	before := s.balance(t, s.payees[0])
	_, err := s.get(t, c, s.srv.URL+"/broken/weather")
	if !errors.Is(err, client.ErrPaymentRejected) {
		t.Fatalf("err = %v, want ErrPaymentRejected", err)
	}
	var pe *client.PaymentError
	if !errors.As(err, &pe) || pe.Reason != x402.ReasonUnexpectedSettleError || pe.StatusCode != 402 ||
		pe.Settlement == nil || pe.Settlement.Success || pe.Option == nil || pe.Option.Price != "0.001 USDC" {
		t.Fatalf("PaymentError %+v", pe)
	}
	if !strings.Contains(err.Error(), "unexpected_settle_error") {
		t.Errorf("message %q lacks the reason", err)
	}
	if sp, _ := c.Spending(t.Context()); sp.Spent != "0" || sp.Reserved != "0" {
		t.Errorf("budget consumed by a failed payment: %+v", sp)
	}
	if s.balance(t, s.payees[0]).Cmp(before) != 0 {
		t.Error("funds moved")
	}
	// The refused authorization is still a bearer instrument until it
	// expires: the budget keeps counting it, so the server that refused it
	// cannot have the client sign another one past the budget.
	var pol *client.PolicyError
	if _, err := s.get(t, c, s.srv.URL+"/weather"); !errors.As(err, &pol) || pol.Rule != client.RuleBudget {
		t.Fatalf("paying again while the refused authorization is live: %v, want a budget refusal", err)
	}
}

func TestPendingSettlementCountsAsSpent(t *testing.T) {
	s := newShop(t)
	c, _ := s.client(t, client.Policy{Budget: "0.001"})
	resp, err := s.get(t, c, s.srv.URL+"/pending/weather")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v", err)
	}
	r, ok := client.ReceiptFromResponse(resp)
	if !ok || r.Settlement == nil || r.Settlement.ErrorReason != x402.ReasonSettlementPending || r.Settlement.Transaction == "" {
		t.Fatalf("receipt %+v", r)
	}
	if sp, _ := c.Spending(t.Context()); sp.Spent != "0.001" || sp.Reserved != "0" {
		t.Errorf("pending settlement not counted: %+v", sp)
	}
	_, err = s.get(t, c, s.srv.URL+"/weather")
	var pe *client.PolicyError
	if !errors.As(err, &pe) || pe.Rule != client.RuleBudget {
		t.Errorf("budget spent by a pending settlement still pays: %v", err)
	}
}

func TestRequestWithPaymentIsNotPaidAgain(t *testing.T) {
	s := newShop(t)
	c, sig := s.client(t, client.Policy{})
	for _, h := range []string{x402.HeaderPaymentSignature, x402.HeaderXPayment} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.srv.URL+"/weather", nil)
		req.Header.Set(h, "bm90IGEgcGF5bWVudA==")
		resp, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 402 {
			t.Errorf("%s: status %d, want the server's 402 as is", h, resp.StatusCode)
		}
		if _, ok := client.ReceiptFromResponse(resp); ok {
			t.Error("receipt for an unpaid response")
		}
	}
	if sig.n.Load() != 0 || s.calls.Load() != 0 {
		t.Errorf("%d signatures, %d handler calls", sig.n.Load(), s.calls.Load())
	}
}

func TestNonX402PaymentRequiredPassesThrough(t *testing.T) {
	s := newShop(t)
	c, sig := s.client(t, client.Policy{})
	resp, err := s.get(t, c, s.srv.URL+"/plain402")
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp.Body); resp.StatusCode != 402 || body != "pay us by cheque" || sig.n.Load() != 0 {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/plain402", nil)
	if _, err := c.Quote(t.Context(), req); !errors.Is(err, client.ErrNotX402) {
		t.Errorf("Quote: %v", err)
	}
}

func TestQuoteSignsNothing(t *testing.T) {
	s := newShop(t)
	approvals := 0
	c, sig := s.client(t, client.Policy{MaxPerRequest: "$0.01", Approve: func(_ context.Context, _ client.Quote) error { approvals++; return nil }})
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/weather", nil)
	q, err := c.Quote(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if q.Free || q.StatusCode != 402 || q.Refusal != nil || q.Option == nil || q.Option.Price != "0.001 USDC" ||
		q.Resource == nil || q.Resource.Description != "Weather" || len(q.Options) != 1 || q.URL != s.srv.URL+"/weather" {
		t.Errorf("quote %+v", q)
	}
	// A refused option is quoted with the refusal.
	req, _ = http.NewRequest(http.MethodGet, s.srv.URL+"/pricey", nil)
	q, err = c.Quote(t.Context(), req)
	var pe *client.PolicyError
	if err != nil || !errors.As(q.Refusal, &pe) || pe.Rule != client.RuleMaxPerRequest || q.Option.Price != "0.05 USDC" {
		t.Errorf("quote %+v %v", q, err)
	}
	// Free resources are free.
	req, _ = http.NewRequest(http.MethodGet, s.srv.URL+"/open", nil)
	if q, err = c.Quote(t.Context(), req); err != nil || !q.Free || q.StatusCode != 200 || q.Option != nil {
		t.Errorf("free quote %+v %v", q, err)
	}
	if sig.n.Load() != 0 || approvals != 0 || s.calls.Load() != 0 {
		t.Errorf("Quote signed %d times, approved %d times, ran %d handlers", sig.n.Load(), approvals, s.calls.Load())
	}
	if sp, _ := c.Spending(t.Context()); sp.Spent != "0" || sp.Reserved != "0" {
		t.Errorf("Quote reserved budget: %+v", sp)
	}
}

// flakyTransport fails paid requests before sending them, with err, the
// first fail times.
type flakyTransport struct {
	base    http.RoundTripper
	err     error
	mu      sync.Mutex
	fail    int
	headers []string // payment headers seen
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h := r.Header.Get(x402.HeaderPaymentSignature); h != "" {
		f.mu.Lock()
		f.headers = append(f.headers, h)
		fail := f.fail > 0
		f.fail--
		f.mu.Unlock()
		if fail {
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, f.err
		}
	}
	return f.base.RoundTrip(r)
}

func TestTransportRetryResendsSamePayment(t *testing.T) {
	s := newShop(t)
	ft := &flakyTransport{base: http.DefaultTransport, fail: 1, err: errors.New("connection reset by peer")}
	sig := signer(t, s.payer)
	c, err := client.NewEVM(sig, client.Config{Assets: s.assets, Base: ft})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.srv.URL+"/echo", bytes.NewReader([]byte("hello")))
	resp, err := c.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body := readAll(t, resp.Body); resp.StatusCode != 200 || body != "echo:hello" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if len(ft.headers) != 2 || ft.headers[0] != ft.headers[1] || sig.n.Load() != 1 {
		t.Errorf("%d attempts, same header %v, %d signatures", len(ft.headers), len(ft.headers) == 2 && ft.headers[0] == ft.headers[1], sig.n.Load())
	}
}

func TestTransportFailureBudget(t *testing.T) {
	s := newShop(t)
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for name, tc := range map[string]struct {
		err   error
		spent string
	}{
		// The request never left: the reservation is released.
		"never sent": {dial, "0"},
		// It may have reached the server, which holds a valid
		// authorization: counted as spent.
		"maybe delivered": {errors.New("unexpected EOF"), "0.001"},
	} {
		t.Run(name, func(t *testing.T) {
			ft := &flakyTransport{base: http.DefaultTransport, fail: 2, err: tc.err}
			c, err := client.NewEVM(signer(t, s.payer), client.Config{Assets: s.assets, Base: ft, Policy: client.Policy{Budget: "1"}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.get(t, c, s.srv.URL+"/weather")
			if err == nil || !errors.Is(err, tc.err) {
				t.Fatalf("err = %v", err)
			}
			if len(ft.headers) != 2 {
				t.Errorf("%d attempts, want 2", len(ft.headers))
			}
			sp, _ := c.Spending(t.Context())
			if sp.Spent != tc.spent || sp.Reserved != "0" {
				t.Errorf("spending %+v, want spent %s", sp, tc.spent)
			}
		})
	}
}
