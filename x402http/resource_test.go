package x402http_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// recordingFacilitator passes calls on and keeps the requests it saw.
type recordingFacilitator struct {
	x402.Facilitator
	mu   sync.Mutex
	seen []*x402.FacilitatorRequest
}

func (f *recordingFacilitator) Verify(ctx context.Context, req *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	f.mu.Lock()
	f.seen = append(f.seen, req)
	f.mu.Unlock()
	return f.Facilitator.Verify(ctx, req)
}

// TestFacilitatorSeesTheServersResource: the payer does not sign the
// resource, so a v2 payment claiming another resource reaches the
// facilitator with this server's resource (which the facilitator binds the
// settlement to).
func TestFacilitatorSeesTheServersResource(t *testing.T) {
	s := newShop(t)
	rec := &recordingFacilitator{Facilitator: s.fac}
	_, srv := s.serve(t, x402http.Config{
		Facilitator: rec,
		Routes:      []x402http.Route{{Pattern: "GET /a", Accepts: s.option("$0.001"), Resource: "https://shop.example/a"}},
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("a")) }))

	pr := required(t, do(t, http.MethodGet, srv.URL, "/a", nil))
	forged := *pr
	forged.Resource = x402.ResourceInfo{URL: "https://shop.example/b", Description: "forged"}
	h := http.Header{x402.HeaderPaymentSignature: {s.payment(t, &forged)}}
	if e := do(t, http.MethodGet, srv.URL, "/a", h); e.status != http.StatusOK {
		t.Fatalf("paid request: %d %s", e.status, e.body)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) != 1 {
		t.Fatalf("%d verify calls", len(rec.seen))
	}
	if got := rec.seen[0].Payload.Resource; got == nil || got.URL != "https://shop.example/a" {
		t.Errorf("facilitator saw resource %+v, want the server's https://shop.example/a", got)
	}
}

// acceptAll answers every payment valid and settled, as a facilitator that
// reads a payload differently from the middleware might: the middleware's
// own checks must stand on their own.
type acceptAll struct{ verifies atomic.Int64 }

func (f *acceptAll) Verify(context.Context, *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	f.verifies.Add(1)
	return &x402.VerifyResponse{IsValid: true, Payer: "0x0000000000000000000000000000000000000001"}, nil
}

func (f *acceptAll) Settle(_ context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	return &x402.SettleResponse{Success: true, Transaction: "0x" + strings.Repeat("11", 32), Network: req.Network()}, nil
}

func (f *acceptAll) Supported(context.Context) (*x402.SupportedResponse, error) {
	return &x402.SupportedResponse{}, nil
}

// TestAmbiguousPayloadIsRefused: a payload whose authorization carries keys
// that differ only in case ("nonce" and "Nonce"), or a value of the wrong
// type, would be keyed by the middleware one way and settled by a
// JavaScript facilitator another, so that one authorization bought a
// response per decoy. It is refused before the facilitator or the handler
// sees it.
func TestAmbiguousPayloadIsRefused(t *testing.T) {
	s := newShop(t)
	fac := &acceptAll{}
	var served atomic.Int64
	_, srv := s.serve(t, x402http.Config{
		Facilitator: fac,
		Queue:       s.queue,
		Routes:      []x402http.Route{{Pattern: "GET /a", Accepts: s.option("$0.001"), Policy: x402http.ServeThenSettle}},
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1); w.Write([]byte("a")) }))

	pr := required(t, do(t, http.MethodGet, srv.URL, "/a", nil))
	p, err := x402.DecodePaymentSignature(s.payment(t, pr))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(auth map[string]any){
		"case-variant nonce": func(a map[string]any) { a["Nonce"] = "0x" + strings.Repeat("22", 32) },
		"wrong value type":   func(a map[string]any) { a["value"] = map[string]any{} },
	} {
		var payload map[string]any
		if err := json.Unmarshal(p.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		edit(payload["authorization"].(map[string]any))
		forged := *p
		if forged.Payload, err = x402.NewObject(payload); err != nil {
			t.Fatal(err)
		}
		h, err := x402.EncodePaymentSignature(&forged)
		if err != nil {
			t.Fatal(err)
		}
		e := do(t, http.MethodGet, srv.URL, "/a", http.Header{x402.HeaderPaymentSignature: {h}})
		if e.status != http.StatusPaymentRequired {
			t.Errorf("%s: status %d, want 402", name, e.status)
			continue
		}
		// The 402 says what go402's facilitator would have said.
		if got := required(t, e).Error; got != string(x402.ReasonExactEVMPayload) {
			t.Errorf("%s: 402 error %q, want %q", name, got, x402.ReasonExactEVMPayload)
		}
	}
	if served.Load() != 0 || fac.verifies.Load() != 0 {
		t.Errorf("served %d, verified %d: want neither", served.Load(), fac.verifies.Load())
	}
}

// TestSettledPaymentStaysClaimed: once a payment settled, a copy of its
// header is refused by the middleware itself, without asking the
// facilitator: a facilitator reading the chain through a lagging RPC node
// would still find the authorization unused and answer valid (acceptAll
// answers so), and the copy would buy a second response.
func TestSettledPaymentStaysClaimed(t *testing.T) {
	s := newShop(t)
	fac := &acceptAll{}
	var served atomic.Int64
	_, srv := s.serve(t, x402http.Config{
		Facilitator: fac,
		Routes:      []x402http.Route{{Pattern: "GET /a", Accepts: s.option("$0.001")}},
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1); w.Write([]byte("a")) }))
	header := http.Header{x402.HeaderPaymentSignature: {s.payment(t, required(t, do(t, http.MethodGet, srv.URL, "/a", nil)))}}
	if e := do(t, http.MethodGet, srv.URL, "/a", header); e.status != http.StatusOK {
		t.Fatalf("first: %d %s", e.status, e.body)
	}
	for range 3 {
		if e := do(t, http.MethodGet, srv.URL, "/a", header); e.status != http.StatusPaymentRequired {
			t.Errorf("copy after settlement: %d", e.status)
		}
	}
	if served.Load() != 1 || fac.verifies.Load() != 1 {
		t.Errorf("served %d times, %d verifies: want 1 and 1", served.Load(), fac.verifies.Load())
	}
}

// TestClaimOfFarExpiryIsBounded: a payment whose authorization names an
// expiry far in the future (a facilitator without go402's bound accepts
// it) stays claimed for the route's timeout plus ten minutes, not until
// then: a claim must not be pinned for ever by the payer.
func TestClaimOfFarExpiryIsBounded(t *testing.T) {
	s := newShop(t)
	fac := &acceptAll{}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	_, srv := s.serve(t, x402http.Config{
		Facilitator: fac,
		Now:         clock,
		Routes:      []x402http.Route{{Pattern: "GET /a", Accepts: s.option("$0.001"), MaxTimeoutSeconds: 60}},
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("a")) }))
	p, err := x402.DecodePaymentSignature(s.payment(t, required(t, do(t, http.MethodGet, srv.URL, "/a", nil))))
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(p.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	payload["authorization"].(map[string]any)["validBefore"] = strconv.FormatInt(now.Add(1000*time.Hour).Unix(), 10)
	if p.Payload, err = x402.NewObject(payload); err != nil {
		t.Fatal(err)
	}
	h, err := x402.EncodePaymentSignature(p)
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{x402.HeaderPaymentSignature: {h}}
	if e := do(t, http.MethodGet, srv.URL, "/a", header); e.status != http.StatusOK {
		t.Fatalf("first: %d %s", e.status, e.body)
	}
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	advance(60*time.Second + 10*time.Minute - time.Second)
	if e := do(t, http.MethodGet, srv.URL, "/a", header); e.status != http.StatusPaymentRequired {
		t.Errorf("copy within the timeout and ten minutes: %d", e.status)
	}
	advance(2 * time.Second)
	if e := do(t, http.MethodGet, srv.URL, "/a", header); e.status != http.StatusOK {
		t.Errorf("after the bound the claim should be gone (acceptAll stands in for the chain): %d", e.status)
	}
}
