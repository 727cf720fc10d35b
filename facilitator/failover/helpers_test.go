package failover_test

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/devnet"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/internal/stacktest"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// fixture is a devnet with two real go402 facilitators, A (settling from
// the last account) and B (from the third), each served over HTTP on
// loopback behind a switchable front (front), and a payer and a payee.
type fixture struct {
	st           *stacktest.Stack
	a, b         *front
	payer, payee devnet.Account
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := stacktest.New(t, stacktest.Config{Devnet: devnet.Config{Accounts: 4}})
	svcB := stacktest.FacilitatorOn(t, st.Devnet, st.Accounts[2], stacktest.Options{Instance: "b"})
	return &fixture{
		st: st, a: newFront(t, st.Service.Handler()), b: newFront(t, svcB.Handler()),
		payer: st.Accounts[0], payee: st.Accounts[1],
	}
}

// client is a remote client for fr with no retries of its own and a
// short settle timeout (a stalled settle ends quickly).
func client(t *testing.T, fr *front) *remote.Client {
	t.Helper()
	c, err := remote.New(remote.Config{URL: fr.url(), Retries: -1, SettleTimeout: 500 * time.Millisecond, ReservesFunds: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// settleMode says what a front does with a /settle request.
type settleMode int32

const (
	pass  settleMode = iota // forward and answer
	cut                     // forward (the facilitator settles), then close the connection unanswered
	stall                   // forward, then hold the answer until the client gives up
)

// front serves a facilitator's handler on a fixed loopback port that can
// be closed (connections refused) and opened again, counting requests.
type front struct {
	t    *testing.T
	h    http.Handler
	addr string
	mode atomic.Int32
	// verifyStatus, when not 0, answers /verify with this status and an
	// error body instead of forwarding it.
	verifyStatus atomic.Int32

	mu       sync.Mutex
	srv      *http.Server
	counts   map[string]int
	released chan struct{}
}

func newFront(t *testing.T, h http.Handler) *front {
	t.Helper()
	fr := &front{t: t, h: h, counts: map[string]int{}, released: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr.addr = ln.Addr().String()
	fr.serve(ln)
	t.Cleanup(func() {
		close(fr.released)
		fr.down()
	})
	return fr
}

func (fr *front) url() string { return "http://" + fr.addr }

func (fr *front) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(fr.handle)}
	fr.mu.Lock()
	fr.srv = srv
	fr.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// down closes the port: connections to it are refused.
func (fr *front) down() {
	fr.mu.Lock()
	srv := fr.srv
	fr.srv = nil
	fr.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// up opens the port again.
func (fr *front) up() {
	fr.t.Helper()
	ln, err := net.Listen("tcp", fr.addr)
	if err != nil {
		fr.t.Fatalf("reopening %s: %v", fr.addr, err)
	}
	fr.serve(ln)
}

func (fr *front) count(path string) int {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return fr.counts[path]
}

func (fr *front) handle(w http.ResponseWriter, r *http.Request) {
	fr.mu.Lock()
	fr.counts[r.URL.Path]++
	fr.mu.Unlock()
	if st := int(fr.verifyStatus.Load()); st != 0 && r.URL.Path == "/verify" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		fmt.Fprint(w, `{"error":"injected"}`)
		return
	}
	mode := settleMode(fr.mode.Load())
	if r.URL.Path != "/settle" || mode == pass {
		fr.h.ServeHTTP(w, r)
		return
	}
	// The request reaches the facilitator, which settles it; its answer
	// is lost.
	fr.h.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithoutCancel(r.Context())))
	if mode == stall {
		select {
		case <-r.Context().Done():
		case <-fr.released:
		}
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

// payment signs a payment of route's first option by f.payer and returns
// the facilitator request for it and its PAYMENT-SIGNATURE header.
func (f *fixture) payment(t *testing.T, pr *x402.PaymentRequired) (*x402.FacilitatorRequest, string) {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(f.payer.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := ec.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
	if err != nil {
		t.Fatal(err)
	}
	p := &x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj}
	header, err := x402.EncodePaymentSignature(p)
	if err != nil {
		t.Fatal(err)
	}
	return x402.NewFacilitatorRequest(p, &pr.Accepts[0]), header
}

// serve puts a paid route ($0.01 to the payee) behind the middleware
// with fac and returns its URL and the route's PaymentRequired.
func (f *fixture) serve(t *testing.T, fac x402.Facilitator) (string, *x402.PaymentRequired) {
	t.Helper()
	_, srv := f.st.Serve(t, x402http.Config{Facilitator: fac, Routes: []x402http.Route{
		{Pattern: "GET /data", Accepts: []x402http.PaymentOption{f.st.Option("$0.01", f.payee.Address.Hex())}},
	}}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "paid data") }))
	resp := get(t, srv.URL+"/data", "")
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("unpaid: status %d", resp.StatusCode)
	}
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL + "/data", pr
}

func get(t *testing.T, url, header string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(x402.HeaderPaymentSignature, header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (f *fixture) balance(t *testing.T) *big.Int {
	t.Helper()
	b, err := f.st.Devnet.BalanceOf(t.Context(), f.payee.Address)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// received fails the test unless the payee got exactly want atomic units
// since before.
func (f *fixture) received(t *testing.T, before *big.Int, want int64) {
	t.Helper()
	if got := new(big.Int).Sub(f.balance(t), before); got.Cmp(big.NewInt(want)) != 0 {
		t.Errorf("payee received %s atomic units, want %d", got, want)
	}
}

// clock is an injectable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// counting counts the calls a member gets.
type counting struct {
	x402.Facilitator
	calls atomic.Int64
}

func (c *counting) Verify(ctx context.Context, r *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	c.calls.Add(1)
	return c.Facilitator.Verify(ctx, r)
}

func (c *counting) Settle(ctx context.Context, r *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	c.calls.Add(1)
	return c.Facilitator.Settle(ctx, r)
}

func (c *counting) Supported(ctx context.Context) (*x402.SupportedResponse, error) {
	c.calls.Add(1)
	return c.Facilitator.Supported(ctx)
}
