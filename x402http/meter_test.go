package x402http_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// These tests drive the metered state machine of the middleware with a
// stand-in scheme ("capped") and facilitator; the end-to-end tests with
// the real "upto" scheme on the devnet are in upto_e2e_test.go.

// cappedServer is a metered test scheme: a payment {"id":…} authorizes the
// requirements' amount, and settles any amount up to it.
type cappedServer struct{}

func (cappedServer) Scheme() string { return "capped" }

func (cappedServer) Requirements(network x402.Network, price x402.Price, payTo string, timeout int) (x402.PaymentRequirements, error) {
	a, err := price.Atomic(6)
	if err != nil {
		return x402.PaymentRequirements{}, err
	}
	return x402.PaymentRequirements{Scheme: "capped", Network: network, Asset: "0x0000000000000000000000000000000000000001", PayTo: payTo, Amount: a, MaxTimeoutSeconds: timeout}, nil
}

func (cappedServer) Identify(p *x402.Payment) (x402.PaymentID, error) {
	var v struct {
		ID string `json:"id"`
	}
	if err := p.Payload.Decode(&v); err != nil || v.ID == "" {
		return x402.PaymentID{}, errors.New("not a capped payment")
	}
	return x402.PaymentID{Key: x402.SettlementKey{Network: p.Requirements.Network, Asset: p.Requirements.Asset, Payer: "0xpayer", Nonce: v.ID}}, nil
}

func (cappedServer) UsageRequirements(accepted x402.PaymentRequirements, used x402.Amount) (x402.PaymentRequirements, error) {
	if used.Cmp(accepted.Amount) > 0 {
		return x402.PaymentRequirements{}, errors.New("above the maximum")
	}
	accepted.Amount = used
	return accepted, nil
}

// cappedFacilitator verifies every payment and settles the requirements'
// amount, recording it; a payload with "refuse" is refused at settle.
type cappedFacilitator struct {
	mu      sync.Mutex
	settled []string // amounts settled, in order
}

func (f *cappedFacilitator) Verify(context.Context, *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	return &x402.VerifyResponse{IsValid: true, Payer: "0xpayer"}, nil
}

func (f *cappedFacilitator) Settle(_ context.Context, r *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	a := r.Requirements.Amount
	if strings.Contains(string(r.Payload.Payload), "refuse") {
		return &x402.SettleResponse{ErrorReason: "insufficient_funds", Network: r.Requirements.Network}, nil
	}
	f.mu.Lock()
	f.settled = append(f.settled, a.String())
	f.mu.Unlock()
	sr := &x402.SettleResponse{Success: true, Network: r.Requirements.Network, Payer: "0xpayer", Amount: &a}
	if !a.IsZero() {
		sr.Transaction = "0x" + strings.Repeat("ab", 32)
	}
	return sr, nil
}

func (f *cappedFacilitator) Supported(context.Context) (*x402.SupportedResponse, error) {
	return &x402.SupportedResponse{}, nil
}

func (f *cappedFacilitator) amounts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.settled...)
}

// meteredShop serves h behind metered routes: GET /m (max $0.0001, 100
// atomic units, unit price 7) of the capped scheme and GET /x of the
// voucher scheme (not metered).
func meteredShop(t *testing.T, h http.HandlerFunc) (*cappedFacilitator, *httptest.Server) {
	t.Helper()
	return meteredShopB(t, h)
}

// meteredShopB is meteredShop for tests and benchmarks.
func meteredShopB(t testing.TB, h http.HandlerFunc) (*cappedFacilitator, *httptest.Server) {
	t.Helper()
	schemes := new(x402.Registry[x402.SchemeServer])
	if err := schemes.Register(x402.V2, "capped", "eip155:*", cappedServer{}); err != nil {
		t.Fatal(err)
	}
	if err := schemes.Register(x402.V2, "voucher", "eip155:*", voucherServer{}); err != nil {
		t.Fatal(err)
	}
	fac := &cappedFacilitator{}
	payTo := "0x2222222222222222222222222222222222222222"
	mw, err := x402http.New(x402http.Config{Facilitator: fac, Schemes: schemes, MaxBufferBytes: 1 << 10, Routes: []x402http.Route{
		{Pattern: "GET /m", UnitPrice: "0.000007", Accepts: []x402http.PaymentOption{{Scheme: "capped", Network: "eip155:84532", Price: "$0.0001", PayTo: payTo}}},
		{Pattern: "GET /x", Accepts: []x402http.PaymentOption{{Scheme: "voucher", Network: "eip155:84532", Price: "$0.01", PayTo: payTo}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(h))
	t.Cleanup(srv.Close)
	return fac, srv
}

// payHeader pays path's 402 with the given payload.
func payHeader(t *testing.T, base, path, payload string) http.Header {
	t.Helper()
	pr := required(t, do(t, "GET", base, path, nil))
	h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: pr.Accepts[0], Payload: x402.Object(payload)})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{x402.HeaderPaymentSignature: {h}}
}

func receiptOf(t *testing.T, h http.Header) *x402.SettleResponse {
	t.Helper()
	v := h.Get(x402.HeaderPaymentResponse)
	if v == "" {
		t.Fatal("no PAYMENT-RESPONSE")
	}
	sr, err := x402.DecodePaymentResponse(v)
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// TestMeteredCharge: the handler's charges add up and are settled once the
// handler returned, never above the maximum; zero usage settles nothing on
// chain and still uses the payment; a failed answer is not settled.
func TestMeteredCharge(t *testing.T) {
	errs := make(chan error, 4)
	fac, srv := meteredShop(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("fail") != "" {
			http.Error(w, "boom", http.StatusInternalServerError)
			_ = x402http.Charge(r, x402.NewAmount(5))
			return
		}
		var err error
		for _, c := range q["c"] {
			var n uint64
			_, _ = fmt.Sscan(c, &n)
			err = errors.Join(err, x402http.Charge(r, x402.NewAmount(n)))
		}
		if u, ok := x402http.UsageFromContext(r.Context()); ok {
			fmt.Fprintf(w, "used %s of %s", u.Used, u.Max)
		} else {
			fmt.Fprint(w, "not metered")
		}
		errs <- err
	})
	cases := []struct {
		name, query, id string
		status          int
		settled         []string
		body            string
		over            bool
	}{
		{"two charges add up", "?c=30&c=12", "a", 200, []string{"42"}, "used 42 of 100", false},
		{"zero usage", "", "b", 200, []string{"0"}, "used 0 of 100", false},
		{"exactly the maximum", "?c=100", "c", 200, []string{"100"}, "used 100 of 100", false},
		{"over-reporting is capped", "?c=60&c=60", "d", 200, []string{"100"}, "used 100 of 100", true},
		{"handler failure is not charged", "?fail=1", "e", 500, nil, "boom\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(fac.amounts())
			e := do(t, "GET", srv.URL, "/m"+tc.query, payHeader(t, srv.URL, "/m", `{"id":"`+tc.id+`"}`))
			if e.status != tc.status || e.body != tc.body {
				t.Fatalf("got %d %q, want %d %q", e.status, e.body, tc.status, tc.body)
			}
			if got := fac.amounts()[before:]; strings.Join(got, ",") != strings.Join(tc.settled, ",") {
				t.Fatalf("settled %v, want %v", got, tc.settled)
			}
			if tc.status == 200 {
				err := <-errs
				if tc.over != errors.Is(err, x402http.ErrOverMaximum) {
					t.Fatalf("Charge error %v, over-reporting %v", err, tc.over)
				}
				sr := receiptOf(t, e.header)
				if !sr.Success || sr.Amount == nil || sr.Amount.String() != tc.settled[0] || (sr.Amount.IsZero() != (sr.Transaction == "")) {
					t.Fatalf("receipt %+v", sr)
				}
			}
			// The payment bought its one answer, charged or not.
			again := do(t, "GET", srv.URL, "/m"+tc.query, payHeader(t, srv.URL, "/m", `{"id":"`+tc.id+`"}`))
			if again.status != http.StatusPaymentRequired {
				t.Fatalf("the payment replayed: %d %s", again.status, again.body)
			}
		})
	}
	t.Run("not metered", func(t *testing.T) {
		e := do(t, "GET", srv.URL, "/x?c=3", payHeader(t, srv.URL, "/x", `{"id":"n","ok":true}`))
		if e.status != 200 || e.body != "not metered" {
			t.Fatalf("%d %s", e.status, e.body)
		}
		if err := <-errs; !errors.Is(err, x402http.ErrNotMetered) {
			t.Fatalf("Charge on an exact-like payment: %v", err)
		}
	})
}

// TestMeteredSettlementRefused: a held-back answer whose settlement is
// refused is withheld (402 with the settlement), as settle-before-serve
// answers are.
func TestMeteredSettlementRefused(t *testing.T) {
	_, srv := meteredShop(t, func(w http.ResponseWriter, r *http.Request) {
		_ = x402http.Use(r, 2)
		_, _ = w.Write([]byte("secret"))
	})
	e := do(t, "GET", srv.URL, "/m", payHeader(t, srv.URL, "/m", `{"id":"r","refuse":true}`))
	if e.status != http.StatusPaymentRequired || strings.Contains(e.body, "secret") {
		t.Fatalf("%d %s", e.status, e.body)
	}
	if sr := receiptOf(t, e.header); sr.Success || sr.ErrorReason != "insufficient_funds" {
		t.Fatalf("settlement %+v", sr)
	}
}

// TestMeteredSSE: an event stream goes out event by event while the
// handler runs (nothing is buffered), each event is charged at the unit
// price, and the receipt of the total follows as a trailer.
func TestMeteredSSE(t *testing.T) {
	step := make(chan struct{})
	fac, srv := meteredShop(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 5 {
			if i > 0 {
				select { // the client saw the previous event
				case <-step:
				case <-r.Context().Done():
					return
				}
			}
			if _, err := fmt.Fprintf(w, "data: token%d\n\n", i); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			if err := x402http.Use(r, 1); err != nil {
				t.Error(err)
			}
		}
	})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/m", nil)
	req.Header = payHeader(t, srv.URL, "/m", `{"id":"s"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, ok := resp.Trailer[http.CanonicalHeaderKey(x402.HeaderPaymentResponse)]; !ok {
		t.Fatalf("PAYMENT-RESPONSE not declared as a trailer: %v", resp.Trailer)
	}
	if resp.Header.Get(x402.HeaderPaymentResponse) != "" {
		t.Fatal("receipt sent before the stream")
	}
	br := bufio.NewReader(resp.Body)
	for i := range 5 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: token%d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		_, _ = br.ReadString('\n')
		if i < 4 {
			step <- struct{}{} // the handler waits: the event came before the end
		}
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("trailing body %q", rest)
	}
	sr := receiptOf(t, resp.Trailer)
	if !sr.Success || sr.Amount == nil || sr.Amount.String() != "35" {
		t.Fatalf("receipt %+v, want 5 tokens at 7", sr)
	}
	if got := fac.amounts(); len(got) != 1 || got[0] != "35" {
		t.Fatalf("settled %v", got)
	}
}

// TestMeteredDisconnect: a client that leaves mid-stream is charged for
// the events the handler delivered before it noticed.
func TestMeteredDisconnect(t *testing.T) {
	delivered := make(chan int, 1)
	fac, srv := meteredShop(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		n := 0
		defer func() { delivered <- n }()
		for range 14 { // up to the maximum: 14 x 7 = 98
			if _, err := fmt.Fprintf(w, "data: %s\n\n", strings.Repeat("x", 512)); err != nil {
				return
			}
			if rc.Flush() != nil || r.Context().Err() != nil {
				return
			}
			_ = x402http.Use(r, 1)
			n++
			time.Sleep(20 * time.Millisecond)
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/m", nil)
	req.Header = payHeader(t, srv.URL, "/m", `{"id":"gone"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	for range 2 {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		_, _ = br.ReadString('\n')
	}
	cancel()
	resp.Body.Close()
	n := <-delivered
	if n < 1 || n >= 14 {
		t.Fatalf("handler delivered %d events before noticing", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(fac.amounts()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := fac.amounts(); len(got) != 1 || got[0] != fmt.Sprint(7*n) {
		t.Fatalf("settled %v, want %d (%d events)", got, 7*n, n)
	}
}

// TestMeteredLargeAnswerStreams: an answer larger than MaxBufferBytes is
// streamed rather than refused, with its receipt as a trailer.
func TestMeteredLargeAnswerStreams(t *testing.T) {
	big := strings.Repeat("y", 3000)
	_, srv := meteredShop(t, func(w http.ResponseWriter, r *http.Request) {
		_ = x402http.Charge(r, x402.NewAmount(9))
		_, _ = io.WriteString(w, big)
	})
	req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/m", nil)
	req.Header = payHeader(t, srv.URL, "/m", `{"id":"big"}`)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != big {
		t.Fatalf("%d, %d bytes", resp.StatusCode, len(b))
	}
	if sr := receiptOf(t, resp.Trailer); !sr.Success || sr.Amount.String() != "9" {
		t.Fatalf("receipt %+v", sr)
	}
}

// TestUseErrors: Use needs a unit price; reports after the handler
// returned are refused.
func TestUseErrors(t *testing.T) {
	if err := x402http.Use(httptest.NewRequest("GET", "/", nil), 1); !errors.Is(err, x402http.ErrNotMetered) {
		t.Fatalf("Use on a request without a payment: %v", err)
	}
	late := make(chan *http.Request, 1)
	_, srv := meteredShop(t, func(w http.ResponseWriter, r *http.Request) {
		late <- r
	})
	if e := do(t, "GET", srv.URL, "/m", payHeader(t, srv.URL, "/m", `{"id":"late"}`)); e.status != 200 {
		t.Fatalf("%d %s", e.status, e.body)
	}
	if err := x402http.Charge(<-late, x402.NewAmount(1)); !errors.Is(err, x402http.ErrMeterClosed) {
		t.Fatalf("Charge after the handler returned: %v", err)
	}
}

// TestMeteredConcurrency: copies of one metered payment sent in parallel
// buy one answer, settled once; charges reported from many goroutines of
// one handler all count.
func TestMeteredConcurrency(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	fac, srv := meteredShop(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() { _ = x402http.Charge(r, x402.NewAmount(1)) })
		}
		wg.Wait()
		fmt.Fprint(w, "done")
	})
	pay := payHeader(t, srv.URL, "/m", `{"id":"par"}`)
	var wg sync.WaitGroup
	var first exchange
	wg.Go(func() { first = do(t, "GET", srv.URL, "/m?hold=1", pay) })
	<-entered
	statuses := make(chan int, 8)
	var copies sync.WaitGroup
	for range 8 {
		copies.Go(func() { statuses <- do(t, "GET", srv.URL, "/m?hold=1", pay).status })
	}
	copies.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusPaymentRequired {
			t.Errorf("a copy of a payment being served got %d", s)
		}
	}
	close(release)
	wg.Wait()
	if first.status != 200 || first.body != "done" {
		t.Fatalf("first: %d %q", first.status, first.body)
	}
	if got := fac.amounts(); len(got) != 1 || got[0] != "50" {
		t.Fatalf("settled %v, want [50] once", got)
	}
}

// liarServer is a metered scheme whose settle-time requirements keep the
// maximum whatever was used.
type liarServer struct{ cappedServer }

func (liarServer) Scheme() string { return "liar" }

func (liarServer) Requirements(network x402.Network, price x402.Price, payTo string, timeout int) (x402.PaymentRequirements, error) {
	r, err := cappedServer{}.Requirements(network, price, payTo, timeout)
	r.Scheme = "liar"
	return r, err
}

func (liarServer) UsageRequirements(accepted x402.PaymentRequirements, _ x402.Amount) (x402.PaymentRequirements, error) {
	return accepted, nil
}

// TestMeteredSchemeCannotOvercharge: the middleware settles the usage and
// nothing else, whatever the scheme's settle-time requirements say: a
// scheme naming another amount gets no settlement, and the held answer
// is withheld.
func TestMeteredSchemeCannotOvercharge(t *testing.T) {
	schemes := new(x402.Registry[x402.SchemeServer])
	if err := schemes.Register(x402.V2, "liar", "eip155:*", liarServer{}); err != nil {
		t.Fatal(err)
	}
	fac := &cappedFacilitator{}
	mw, err := x402http.New(x402http.Config{Facilitator: fac, Schemes: schemes, Routes: []x402http.Route{{
		Pattern: "GET /m", Accepts: []x402http.PaymentOption{{Scheme: "liar", Network: "eip155:84532", Price: "$0.0001", PayTo: "0x2222222222222222222222222222222222222222"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = x402http.Charge(r, x402.NewAmount(5))
		fmt.Fprint(w, "secret")
	})))
	t.Cleanup(srv.Close)
	e := do(t, "GET", srv.URL, "/m", payHeader(t, srv.URL, "/m", `{"id":"l"}`))
	if e.status != http.StatusInternalServerError || strings.Contains(e.body, "secret") {
		t.Fatalf("%d %q", e.status, e.body)
	}
	if got := fac.amounts(); len(got) != 0 {
		t.Fatalf("settled %v", got)
	}
}
