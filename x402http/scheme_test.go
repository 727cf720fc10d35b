package x402http_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// voucherServer is a scheme server for a test scheme whose payload is
// {"id":…, "ok":bool}: it identifies a payment by its id, and verifies
// locally the payments whose "ok" it knows (true or false), leaving the
// others (no "ok") to the facilitator. It stands in for a scheme such as
// batch-settlement, whose vouchers a server can check itself.
type voucherServer struct{}

func (voucherServer) Scheme() string { return "voucher" }

func (voucherServer) Requirements(network x402.Network, price x402.Price, payTo string, timeout int) (x402.PaymentRequirements, error) {
	return x402.PaymentRequirements{Scheme: "voucher", Network: network, Asset: "0x0000000000000000000000000000000000000001", PayTo: payTo, Amount: x402.NewAmount(7), MaxTimeoutSeconds: timeout}, nil
}

type voucher struct {
	ID string `json:"id"`
	OK *bool  `json:"ok"`
}

func (voucherServer) Identify(p *x402.Payment) (x402.PaymentID, error) {
	var v voucher
	if err := p.Payload.Decode(&v); err != nil || v.ID == "" {
		return x402.PaymentID{}, errors.New("not a voucher")
	}
	return x402.PaymentID{Key: x402.SettlementKey{Network: p.Requirements.Network, Asset: p.Requirements.Asset, Payer: "channel", Nonce: v.ID}}, nil
}

func (voucherServer) VerifyLocal(_ context.Context, p *x402.Payment) (*x402.VerifyResponse, error) {
	var v voucher
	if err := p.Payload.Decode(&v); err != nil {
		return nil, err
	}
	if v.OK == nil {
		return nil, nil
	}
	if !*v.OK {
		return &x402.VerifyResponse{InvalidReason: "invalid_voucher", Payer: "channel"}, nil
	}
	return &x402.VerifyResponse{IsValid: true, Payer: "channel"}, nil
}

// countingFacilitator answers every verify valid and every settle settled,
// and counts the calls: the test checks which requests reach it.
type countingFacilitator struct{ verifies, settles atomic.Int32 }

func (f *countingFacilitator) Verify(context.Context, *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	f.verifies.Add(1)
	return &x402.VerifyResponse{IsValid: true, Payer: "channel"}, nil
}

func (f *countingFacilitator) Settle(context.Context, *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.settles.Add(1)
	return &x402.SettleResponse{Success: true, Transaction: "0x01", Network: "eip155:84532", Payer: "channel"}, nil
}

func (f *countingFacilitator) Supported(context.Context) (*x402.SupportedResponse, error) {
	return &x402.SupportedResponse{}, nil
}

// TestSchemeServerSeam: a scheme that is not EVM "exact" plugs into the
// middleware by one registration: it prices the route, its key makes one
// payment buy one response, and its local verdicts spare the facilitator's
// verify (settlement still goes to the facilitator).
func TestSchemeServerSeam(t *testing.T) {
	schemes := new(x402.Registry[x402.SchemeServer])
	if err := schemes.Register(x402.V2, "voucher", "eip155:*", voucherServer{}); err != nil {
		t.Fatal(err)
	}
	fac := &countingFacilitator{}
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	mw, err := x402http.New(x402http.Config{Facilitator: fac, Schemes: schemes, Routes: []x402http.Route{{
		Pattern: "GET /v", Accepts: []x402http.PaymentOption{{Scheme: "voucher", Network: "eip155:84532", Price: "$0.01", PayTo: "0x2222222222222222222222222222222222222222"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			entered <- struct{}{}
			<-release
		}
		_, _ = w.Write([]byte("paid"))
	})))
	defer srv.Close()

	first := do(t, "GET", srv.URL, "/v", nil)
	pr := required(t, first)
	if len(pr.Accepts) != 1 || pr.Accepts[0].Scheme != "voucher" || pr.Accepts[0].Amount != x402.NewAmount(7) {
		t.Fatalf("402 offers %+v, want the voucher scheme's requirements", pr.Accepts)
	}
	header := func(payload string) http.Header {
		h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: pr.Accepts[0], Payload: x402.Object(payload)})
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{x402.HeaderPaymentSignature: {h}}
	}

	if e := do(t, "GET", srv.URL, "/v", header(`{"id":"a","ok":true}`)); e.status != 200 || e.body != "paid" {
		t.Fatalf("locally valid voucher: %d %s", e.status, e.body)
	}
	if e := do(t, "GET", srv.URL, "/v", header(`{"id":"b","ok":false}`)); e.status != 402 {
		t.Fatalf("locally invalid voucher: %d", e.status)
	}
	if got := fac.verifies.Load(); got != 0 {
		t.Fatalf("facilitator verified %d times for locally decided payments", got)
	}
	if e := do(t, "GET", srv.URL, "/v", header(`{"id":"c"}`)); e.status != 200 || fac.verifies.Load() != 1 {
		t.Fatalf("undecided voucher: %d, %d facilitator verifies", e.status, fac.verifies.Load())
	}
	if e := do(t, "GET", srv.URL, "/v", header(`{"nope":1}`)); e.status != 402 {
		t.Fatalf("a payload the scheme cannot identify: %d", e.status)
	}

	// One payment, one response, by the scheme's key: while the first
	// request with voucher "d" is served, a copy is refused.
	var wg sync.WaitGroup
	var held exchange
	wg.Go(func() { held = do(t, "GET", srv.URL, "/v?hold=1", header(`{"id":"d","ok":true}`)) })
	<-entered
	if e := do(t, "GET", srv.URL, "/v?hold=1", header(`{"ok":true,"id":"d"}`)); e.status != 402 {
		t.Errorf("copy of a payment being served: %d", e.status)
	}
	close(release)
	wg.Wait()
	if held.status != 200 {
		t.Errorf("held request: %d", held.status)
	}
	if got := fac.settles.Load(); got != 3 {
		t.Errorf("%d settlements, want 3 (a, c, d)", got)
	}
}
