package x402http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
	"github.com/go402/go402/x402http/sqlitequeue"
)

// shop is a paid API on the devnet (chain 84532, v1 name "base-sepolia")
// with an in-process go402 facilitator.
type shop struct {
	net    *devnet.Devnet
	srv    *httptest.Server
	mw     *x402http.Middleware
	payee  common.Address
	client *evm.ExactClient
	calls  map[string]*atomic.Int64 // handler invocations per path
	queue  *watchedQueue
	qpath  string
	fac    x402.Facilitator
	accts  []devnet.Account
	stack  *stacktest.Stack
}

func newShop(t *testing.T) *shop {
	t.Helper()
	ctx := t.Context()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{ChainID: 84532, Accounts: 4}})
	net, accts, fac, nets := st.Devnet, st.Accounts, st.Facilitator, st.Networks
	var err error
	s := &shop{net: net, payee: accts[1].Address, calls: map[string]*atomic.Int64{}, qpath: filepath.Join(t.TempDir(), "queue.db"), fac: fac, accts: accts, stack: st}
	q, err := sqlitequeue.Open(ctx, sqlitequeue.Config{Path: s.qpath, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	s.queue = watch(q)
	opt := func(price string) []x402http.PaymentOption {
		return []x402http.PaymentOption{{Network: "eip155:84532", Price: price, PayTo: s.payee.Hex()}}
	}
	s.mw, err = x402http.New(x402http.Config{
		Facilitator: fac,
		Schemes:     evm.ServerSchemes(nets),
		Queue:       s.queue,
		Routes: []x402http.Route{
			{Pattern: "GET /weather", Accepts: opt("$0.001"), Description: "Weather", MimeType: "application/json"},
			{Pattern: "/reports/{id}", Accepts: opt("$0.05"), Description: "Report"},
			{Pattern: "GET /stream", Accepts: opt("$0.001"), Policy: x402http.ServeThenSettle},
			{Pattern: "GET /fail", Accepts: opt("$0.001")},
			{Pattern: "GET /hints", Accepts: opt("$0.001")},
			{Pattern: "GET /moved", Accepts: opt("$0.001")},
			{Pattern: "GET /dynamic", Accepts: opt("$1"), Price: func(r *http.Request) (x402.Price, error) {
				return x402.ParsePrice(r.URL.Query().Get("price"))
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	count := func(path string) *atomic.Int64 {
		c := &atomic.Int64{}
		s.calls[path] = c
		return c
	}
	wc, rc, sc, fc, dc, oc := count("/weather"), count("/reports"), count("/stream"), count("/fail"), count("/dynamic"), count("/open")
	mux.HandleFunc("/weather", func(w http.ResponseWriter, r *http.Request) {
		wc.Add(1)
		p, ok := x402http.PaymentFromContext(r.Context())
		if !ok {
			http.Error(w, "no payment in context", 500)
			return
		}
		fmt.Fprintf(w, `{"forecast":"sunny","payer":%q}`, p.Payer)
	})
	mux.HandleFunc("/reports/{id}", func(w http.ResponseWriter, r *http.Request) {
		rc.Add(1)
		fmt.Fprintf(w, "report %s", r.PathValue("id"))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		sc.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: tick %d\n\n", i)
			http.NewResponseController(w).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { fc.Add(1); http.Error(w, "boom", 500) })
	hc := count("/hints")
	mux.HandleFunc("/hints", func(w http.ResponseWriter, r *http.Request) {
		hc.Add(1)
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		http.Error(w, "database down", 500)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/weather", http.StatusFound) })
	mux.HandleFunc("/dynamic", func(w http.ResponseWriter, r *http.Request) { dc.Add(1); io.WriteString(w, "dynamic") })
	mux.HandleFunc("/open", func(w http.ResponseWriter, r *http.Request) { oc.Add(1); io.WriteString(w, "free") })
	s.srv = httptest.NewServer(s.mw.Handler(mux))
	t.Cleanup(s.srv.Close)
	signer, _ := evm.NewPrivateKeySignerFromECDSA(accts[0].PrivateKey)
	s.client, _ = evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	return s
}

func (s *shop) get(t *testing.T, path string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// offer fetches path unpaid and returns the decoded 402.
func (s *shop) offer(t *testing.T, path string) *x402.PaymentRequired {
	t.Helper()
	resp := s.get(t, path, nil)
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("%s unpaid: status %d", path, resp.StatusCode)
	}
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// payment signs the first requirement of pr as a v2 PAYMENT-SIGNATURE.
func (s *shop) payment(t *testing.T, pr *x402.PaymentRequired) string {
	t.Helper()
	obj, err := s.client.CreatePayload(t.Context(), 2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: 2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (s *shop) balance(t *testing.T) *big.Int {
	t.Helper()
	b, err := s.net.BalanceOf(t.Context(), s.payee)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnpaidRequestGets402(t *testing.T) {
	s := newShop(t)
	resp := s.get(t, "/weather", nil)
	if resp.StatusCode != 402 || resp.Header.Get("Cache-Control") != "no-store" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "PAYMENT-REQUIRED") {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	a := pr.Accepts[0]
	if a.Amount != x402.NewAmount(1000) || a.Network != "eip155:84532" || a.PayTo != s.payee.Hex() || a.Asset != s.net.Token().Address.Hex() ||
		!strings.HasSuffix(pr.Resource.URL, "/weather") || pr.Resource.Description != "Weather" {
		t.Errorf("PaymentRequired %+v", pr)
	}
	// The body is the v1 answer.
	var body x402.PaymentRequiredV1
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.X402Version != 1 || len(body.Accepts) != 1 || body.Accepts[0].Network != "base-sepolia" || body.Accepts[0].MaxAmountRequired != x402.NewAmount(1000) {
		t.Errorf("v1 body %+v", body)
	}
	if s.calls["/weather"].Load() != 0 {
		t.Error("handler ran without payment")
	}
	// Browsers get HTML, still with the header.
	html := s.get(t, "/weather", http.Header{"Accept": {"text/html,application/xhtml+xml"}})
	if html.StatusCode != 402 || !strings.HasPrefix(html.Header.Get("Content-Type"), "text/html") || html.Header.Get(x402.HeaderPaymentRequired) == "" {
		t.Errorf("browser 402: %d %v", html.StatusCode, html.Header)
	}
	// CORS preflight allows the payment headers.
	req, _ := http.NewRequest(http.MethodOptions, s.srv.URL+"/weather", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.StatusCode != 204 || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "PAYMENT-SIGNATURE") ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "X-PAYMENT") {
		t.Errorf("preflight %d %v", pre.StatusCode, pre.Header)
	}
	// Unprotected routes pass through untouched.
	if open := s.get(t, "/open", nil); open.StatusCode != 200 || open.Header.Get(x402.HeaderPaymentRequired) != "" {
		t.Errorf("open route: %d", open.StatusCode)
	}
}

func TestPathTricksCannotBypassPayment(t *testing.T) {
	s := newShop(t)
	for _, p := range []string{"/weather/", "//weather", "/WEATHER", "/x/../weather", "/./weather", "/weather%2F", "/%77eather", "/reports/1", "/REPORTS/x%2Fy/../2"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.srv.URL+p, nil)
		req.URL.Opaque = "" // send the path as written
		req.URL.RawPath = ""
		raw := p
		req.URL, _ = req.URL.Parse(s.srv.URL + raw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("%s served without payment", p)
		}
	}
	if n := s.calls["/weather"].Load() + s.calls["/reports"].Load(); n != 0 {
		t.Errorf("paid handlers ran %d times without payment", n)
	}
}

func TestPaidRequestV2(t *testing.T) {
	s := newShop(t)
	before := s.balance(t)
	pr := s.offer(t, "/weather")
	resp := s.get(t, "/weather", http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}})
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "sunny") || !strings.Contains(string(body), s.net.Accounts()[0].Address.Hex()) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	sr, err := x402.DecodePaymentResponse(resp.Header.Get(x402.HeaderPaymentResponse))
	if err != nil || !sr.Success || sr.Transaction == "" {
		t.Fatalf("PAYMENT-RESPONSE %+v %v", sr, err)
	}
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s", got)
	}
}

func TestPaidRequestV1(t *testing.T) {
	s := newShop(t)
	before := s.balance(t)
	// A v1 client reads the body, pays with X-PAYMENT.
	resp := s.get(t, "/reports/42", nil)
	body, err := x402.DecodePaymentRequiredV1(mustRead(t, resp))
	if err != nil {
		t.Fatal(err)
	}
	req, res := body.Accepts[0].ToV2()
	_ = res
	obj, err := s.client.CreatePayload(t.Context(), 1, req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodeXPayment(&x402.PaymentPayloadV1{X402Version: 1, Scheme: "exact", Network: "base-sepolia", Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	paid := s.get(t, "/reports/42", http.Header{x402.HeaderXPayment: {h}})
	if paid.StatusCode != 200 || string(mustRead(t, paid)) != "report 42" {
		t.Fatalf("status %d", paid.StatusCode)
	}
	sr, err := x402.DecodePaymentResponse(paid.Header.Get(x402.HeaderXPaymentResponse))
	if err != nil || !sr.Success || sr.Network != "base-sepolia" {
		t.Fatalf("X-PAYMENT-RESPONSE %+v %v", sr, err)
	}
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(50_000)) != 0 {
		t.Errorf("payee received %s", got)
	}
}

func mustRead(t *testing.T, r *http.Response) []byte {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMismatchedPaymentsNeverRunHandler(t *testing.T) {
	s := newShop(t)
	weather := s.offer(t, "/weather")
	report := s.offer(t, "/reports/1")
	cheap := *weather
	cheap.Accepts = []x402.PaymentRequirements{weather.Accepts[0]}
	cheap.Accepts[0].Amount = x402.NewAmount(1) // pays less
	other := *weather
	other.Accepts = []x402.PaymentRequirements{weather.Accepts[0]}
	other.Accepts[0].PayTo = s.net.Accounts()[2].Address.Hex() // pays someone else
	before := s.balance(t)
	cases := map[string]struct {
		path string
		pr   *x402.PaymentRequired
	}{
		"wrong amount":          {"/weather", &cheap},
		"wrong payTo":           {"/weather", &other},
		"another route's price": {"/reports/2", weather}, // $0.001 payment for a $0.05 report
		"report paid, weather":  {"/weather", report},    // a different route's (higher) payment
		"garbage header":        {"/weather", nil},
	}
	for name, c := range cases {
		h := "not-base64!"
		if c.pr != nil {
			h = s.payment(t, c.pr)
		}
		resp := s.get(t, c.path, http.Header{x402.HeaderPaymentSignature: {h}})
		if resp.StatusCode != 402 {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
	}
	if n := s.calls["/weather"].Load() + s.calls["/reports"].Load(); n != 0 {
		t.Errorf("handlers ran %d times for mismatched payments", n)
	}
	if s.balance(t).Cmp(before) != 0 {
		t.Error("a mismatched payment moved funds")
	}
}

func TestFailingHandlerIsNotCharged(t *testing.T) {
	s := newShop(t)
	before := s.balance(t)
	pr := s.offer(t, "/fail")
	resp := s.get(t, "/fail", http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}})
	if resp.StatusCode != 500 || resp.Header.Get(x402.HeaderPaymentResponse) != "" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if s.calls["/fail"].Load() != 1 || s.balance(t).Cmp(before) != 0 {
		t.Error("a 500 was charged")
	}
}

func TestDynamicPrice(t *testing.T) {
	s := newShop(t)
	if resp := s.get(t, "/dynamic?price=0", nil); resp.StatusCode != 200 {
		t.Errorf("free dynamic price: %d", resp.StatusCode)
	}
	pr := s.offer(t, "/dynamic?price=$0.002")
	if pr.Accepts[0].Amount != x402.NewAmount(2000) {
		t.Errorf("dynamic amount %s", pr.Accepts[0].Amount)
	}
}

func TestServeThenSettleStreamsAndSettlesDurably(t *testing.T) {
	s := newShop(t)
	before := s.balance(t)
	pr := s.offer(t, "/stream")
	resp := s.get(t, "/stream", http.Header{x402.HeaderPaymentSignature: {s.payment(t, pr)}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The first event arrives before the handler finishes.
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: tick 0\n" {
		t.Fatalf("first event %q %v", line, err)
	}
	io.Copy(io.Discard, resp.Body)
	// Queued durably, not settled yet: nothing moved.
	if s.balance(t).Cmp(before) != 0 {
		t.Fatal("settled before the worker ran")
	}
	// "Restart": a new queue handle on the same file, a worker settles it.
	q2Store, err := sqlitequeue.Open(t.Context(), sqlitequeue.Config{Path: s.qpath, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer q2Store.Close()
	q2 := watch(q2Store)
	mw, err := x402http.New(x402http.Config{Facilitator: s.fac, Queue: q2, Routes: nil})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- mw.RunSettlements(ctx) }()
	waitSettled(t, q2, 1)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Fatalf("payee received %s", got)
	}
	queued, ok, failed, err := q2.Counts(t.Context())
	if err != nil || queued != 0 || ok != 1 || failed != 0 {
		t.Errorf("queue counts %d %d %d %v", queued, ok, failed, err)
	}
}

func TestServeThenSettleV1(t *testing.T) {
	// A v1 client (X-PAYMENT) on a serve-then-settle route.
	s := newShop(t)
	before := s.balance(t)
	body, err := x402.DecodePaymentRequiredV1(mustRead(t, s.get(t, "/stream", nil)))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := body.Accepts[0].ToV2()
	obj, err := s.client.CreatePayload(t.Context(), 1, req)
	if err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodeXPayment(&x402.PaymentPayloadV1{X402Version: 1, Scheme: "exact", Network: "base-sepolia", Payload: obj})
	if err != nil {
		t.Fatal(err)
	}
	resp := s.get(t, "/stream", http.Header{x402.HeaderXPayment: {h}})
	if resp.StatusCode != 200 || !strings.Contains(string(mustRead(t, resp)), "tick 2") {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = s.mw.RunSettlements(ctx) }()
	waitSettled(t, s.queue, 1)
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Fatalf("payee received %s", got)
	}
}

func TestOnePaymentBuysOneResponse(t *testing.T) {
	// A payer copies one PAYMENT-SIGNATURE onto parallel requests: every
	// copy would verify until the first settles. One response is served.
	s := newShop(t)
	before := s.balance(t)
	pr := s.offer(t, "/weather")
	h := s.payment(t, pr)
	const n = 6
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, s.srv.URL+"/weather", nil)
			req.Header.Set(x402.HeaderPaymentSignature, h)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		if c == 200 {
			ok++
		} else if c != 402 {
			t.Errorf("status %d", c)
		}
	}
	if ok != 1 || s.calls["/weather"].Load() != 1 {
		t.Errorf("%d responses served (handler ran %d times) for one payment", ok, s.calls["/weather"].Load())
	}
	if got := new(big.Int).Sub(s.balance(t), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s", got)
	}
	// Afterwards the settled payment is refused too.
	if resp := s.get(t, "/weather", http.Header{x402.HeaderPaymentSignature: {h}}); resp.StatusCode != 402 {
		t.Errorf("replay after settlement: %d", resp.StatusCode)
	}

	// Serve-then-settle: the payment is queued, not settled; a copy sent
	// after the first response is still refused.
	pr = s.offer(t, "/stream")
	h = s.payment(t, pr)
	if resp := s.get(t, "/stream", http.Header{x402.HeaderPaymentSignature: {h}}); resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	if resp := s.get(t, "/stream", http.Header{x402.HeaderPaymentSignature: {h}}); resp.StatusCode != 402 {
		t.Errorf("copy of a queued payment: %d", resp.StatusCode)
	}
	if s.calls["/stream"].Load() != 1 {
		t.Errorf("stream handler ran %d times", s.calls["/stream"].Load())
	}
}

func TestRouteBypassesAreClosed(t *testing.T) {
	s := newShop(t)
	do := func(method, path string, hdr http.Header) int {
		req, err := http.NewRequestWithContext(t.Context(), method, s.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = hdr
		if req.Header == nil {
			req.Header = http.Header{}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// A path priced for GET answers other methods 405, never the handler.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodOptions, "PATCH"} {
		if got := do(m, "/weather", nil); got != http.StatusMethodNotAllowed {
			t.Errorf("%s /weather: %d", m, got)
		}
	}
	if got := do("get", "/weather", nil); got != 402 {
		t.Errorf("lower-case get: %d", got)
	}
	// An encoded slash inside a parameter segment is still the paid route.
	for _, p := range []string{"/reports/2024%2Fq1", "/reports/%2E%2E", "/reports/a%5Cb"} {
		if got := do(http.MethodGet, p, nil); got == 200 {
			t.Errorf("%s served without payment", p)
		}
	}
	if n := s.calls["/weather"].Load() + s.calls["/reports"].Load(); n != 0 {
		t.Errorf("paid handlers ran %d times", n)
	}
}

// An informational status is not final: a failure after it is not
// charged. (A redirect is: see TestRedirectIsChargedByDefault.)
func TestNoChargeForInformationalThenFailure(t *testing.T) {
	s := newShop(t)
	before := s.balance(t)
	for _, p := range []string{"/hints"} {
		pr := s.offer(t, p)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.srv.URL+p, nil)
		req.Header.Set(x402.HeaderPaymentSignature, s.payment(t, pr))
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.Header.Get(x402.HeaderPaymentResponse) != "" {
			t.Errorf("%s: status %d with a settlement", p, resp.StatusCode)
		}
	}
	if s.balance(t).Cmp(before) != 0 {
		t.Error("a failed response was charged")
	}
}

// brokenQueue claims payments in a real queue but cannot store a
// settlement: a disk that filled up meanwhile, which a live SQLite file does
// not produce on demand.
type brokenQueue struct{ *sqlitequeue.Queue }

func (brokenQueue) Enqueue(context.Context, string, *x402.FacilitatorRequest) error {
	return fmt.Errorf("disk full")
}

func TestServeThenSettleRefusesWhenTheQueueFails(t *testing.T) {
	s := newShop(t)
	nets := &evm.Networks{}
	if err := s.net.Register(nets); err != nil {
		t.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{
		Facilitator: s.fac, Schemes: evm.ServerSchemes(nets), Queue: brokenQueue{s.queue.Queue},
		Routes: []x402http.Route{{Pattern: "GET /stream", Policy: x402http.ServeThenSettle,
			Accepts: []x402http.PaymentOption{{Network: "eip155:84532", Price: "$0.001", PayTo: s.payee.Hex()}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		// Headers that would hand the unpaying client something: a
		// session, a redirect, a token, a cacheable answer.
		w.Header().Set("Set-Cookie", "session=paid")
		w.Header().Set("Location", "/download/secret")
		w.Header().Set("X-Download-Token", "t0ken")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		io.WriteString(w, "PAID CONTENT")
	})))
	defer srv.Close()
	pr := s.offer(t, "/stream")
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/stream", nil)
	req.Header.Set(x402.HeaderPaymentSignature, s.payment(t, pr))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := mustRead(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(string(body), "PAID CONTENT") {
		t.Errorf("status %d body %q", resp.StatusCode, body)
	}
	for _, k := range []string{"Set-Cookie", "Location", "X-Download-Token"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("the refused answer carries the handler's %s: %q", k, v)
		}
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), x402.HeaderPaymentRequired) {
		t.Errorf("the middleware's own headers are gone: %v", resp.Header)
	}
}
