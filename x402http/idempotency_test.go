package x402http_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// dropProxy forwards requests to upstream; it cuts the connection instead
// of answering the first paid request, after upstream answered it (the
// server settled and served: the answer is lost on the way back).
func dropProxy(t *testing.T, upstream string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	target, _ := url.Parse(upstream)
	var paid atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := r.Clone(r.Context())
		out.RequestURI, out.URL.Scheme, out.URL.Host = "", target.Scheme, target.Host
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if r.Header.Get(x402.HeaderPaymentSignature) != "" && paid.Add(1) == 1 {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_ = conn.Close() // the answer is lost
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &paid
}

// idemShop serves /order (settle before serve) declaring the
// payment-identifier extension, behind the shop's facilitator counted.
func idemShop(t *testing.T, s *shop, mode x402http.PaymentIDMode) (*httptest.Server, *settleCounter, *atomic.Int64) {
	t.Helper()
	fac := &settleCounter{Facilitator: s.fac}
	var served atomic.Int64
	_, srv := s.serve(t, x402http.Config{
		Facilitator: fac,
		Routes:      []x402http.Route{{Pattern: "GET /order", Accepts: s.option("$0.001"), PaymentIdentifier: mode}},
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"order":%d}`, n)
	}))
	return srv, fac, &served
}

func (s *shop) payingClient(t *testing.T) *client.Client {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(s.accts[0].PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	nets := &evm.Networks{}
	if err := s.net.Register(nets); err != nil {
		t.Fatal(err)
	}
	assets, err := client.AssetsFromNetworks(nets)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewEVM(signer, client.Config{Assets: assets, Policy: client.Policy{MaxPerRequest: "$0.01"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLostResponseRetriedWithPaymentIDPaysOnce(t *testing.T) {
	s := newShop(t)
	srv, fac, served := idemShop(t, s, x402http.PaymentIDOptional)
	proxy, paid := dropProxy(t, srv.URL)
	c := s.payingClient(t)
	before := s.balance(t)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, proxy.URL+"/order", nil)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("paid request with a lost answer: %v", err)
	}
	body := string(mustRead(t, resp))
	if resp.StatusCode != 200 || body != `{"order":1}` {
		t.Fatalf("retry answered %d %q", resp.StatusCode, body)
	}
	rc, ok := client.ReceiptFromResponse(resp)
	if !ok || rc.PaymentID == "" || rc.Settlement == nil || !rc.Settlement.Success || rc.Settlement.Transaction == "" {
		t.Fatalf("receipt %+v", rc)
	}
	if paid.Load() != 2 {
		t.Errorf("paid request sent %d times through the proxy, want 2 (the lost one and the resend)", paid.Load())
	}
	if served.Load() != 1 || fac.settles.Load() != 1 {
		t.Errorf("handler ran %d times, %d settlements; want 1 and 1", served.Load(), fac.settles.Load())
	}
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s, want 1000 (paid once)", got)
	}
}

func TestPaymentIDServerRules(t *testing.T) {
	s := newShop(t)
	srv, fac, served := idemShop(t, s, x402http.PaymentIDRequired)
	pr := s.offerAt(t, srv.URL+"/order")
	p, err := x402.ParsePaymentIdentifier(pr.Extensions)
	if err != nil || !p.Declared || !p.Required {
		t.Fatalf("402 declares %+v, %v", p, err)
	}
	pay := func(id string) string {
		obj, err := s.client.CreatePayload(t.Context(), 2, pr.Accepts[0])
		if err != nil {
			t.Fatal(err)
		}
		exts := pr.Extensions
		if id != "" {
			// Set by hand, so that invalid ids can be sent too.
			exts = x402.Object(`{"payment-identifier":{"info":{"required":true,"id":` + jsonString(id) + `}}}`)
		}
		h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: 2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj, Extensions: exts})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	send := func(h string) exchange {
		return do(t, http.MethodGet, srv.URL, "/order", http.Header{x402.HeaderPaymentSignature: {h}})
	}
	reason := func(e exchange) string {
		var v struct{ Error string }
		_ = json.Unmarshal([]byte(e.body), &v)
		return v.Error
	}
	for _, tc := range []struct{ name, id, reason string }{
		{"none", "", string(x402.ReasonPaymentIDRequired)},
		{"15 chars", strings.Repeat("a", 15), string(x402.ReasonInvalidPaymentID)},
		{"129 chars", strings.Repeat("a", 129), string(x402.ReasonInvalidPaymentID)},
		{"bad char", "pay_0123456789abc.def", string(x402.ReasonInvalidPaymentID)},
	} {
		if e := send(pay(tc.id)); e.status != 400 || reason(e) != tc.reason {
			t.Errorf("%s: %d %s", tc.name, e.status, e.body)
		}
	}
	id := x402.NewPaymentID()
	first := pay(id)
	e1 := send(first)
	if e1.status != 200 {
		t.Fatalf("first: %d %s", e1.status, e1.body)
	}
	// The same payment again: the first answer, receipt included.
	e2 := send(first)
	if e2.status != 200 || e2.body != e1.body || e2.header.Get(x402.HeaderPaymentResponse) != e1.header.Get(x402.HeaderPaymentResponse) {
		t.Errorf("resend: %d %s (first %s)", e2.status, e2.body, e1.body)
	}
	// Another payment under the used id: refused, nothing charged.
	if e := send(pay(id)); e.status != http.StatusConflict || reason(e) != string(x402.ReasonPaymentIDConflict) {
		t.Errorf("other payment, same id: %d %s", e.status, e.body)
	}
	// The same id on another route is another key; a new id pays anew.
	if e := send(pay(x402.NewPaymentID())); e.status != 200 {
		t.Errorf("new id: %d %s", e.status, e.body)
	}
	if served.Load() != 2 || fac.settles.Load() != 2 {
		t.Errorf("handler ran %d times, %d settlements; want 2 and 2", served.Load(), fac.settles.Load())
	}
	// Copies of one payment sent at once: one is processed, the others are
	// told to retry (in progress) or get its answer; one settlement.
	h := pay(x402.NewPaymentID())
	codes := make(chan exchange, 6)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { codes <- send(h) })
	}
	wg.Wait()
	close(codes)
	ok := 0
	for e := range codes {
		switch {
		case e.status == 200:
			ok++
		case e.status == http.StatusConflict && reason(e) == string(x402.ReasonPaymentIDInProgress) && e.header.Get("Retry-After") != "":
		default:
			t.Errorf("concurrent copy: %d %s", e.status, e.body)
		}
	}
	if e := send(h); e.status != 200 || e.body != `{"order":3}` {
		t.Errorf("resend after the concurrent copies: %d %s", e.status, e.body)
	}
	if ok < 1 || served.Load() != 3 || fac.settles.Load() != 3 {
		t.Errorf("%d copies served; handler ran %d times, %d settlements; want 3 and 3", ok, served.Load(), fac.settles.Load())
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// offerAt fetches u unpaid and returns the decoded 402.
func (s *shop) offerAt(t *testing.T, u string) *x402.PaymentRequired {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}
