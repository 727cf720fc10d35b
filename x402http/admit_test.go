package x402http_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// tabServer is a stateful test scheme ("tab") through the ChargeAdmitter
// seam: its payload {"id":…, "do":…} says what Admit decides, and it
// records which pending charges were committed and aborted.
type tabServer struct {
	mu        sync.Mutex
	committed []string
	aborted   []string
}

func (*tabServer) Scheme() string { return "tab" }

func (*tabServer) Requirements(network x402.Network, price x402.Price, payTo string, timeout int) (x402.PaymentRequirements, error) {
	return x402.PaymentRequirements{Scheme: "tab", Network: network, Asset: "0x0000000000000000000000000000000000000001", PayTo: payTo, Amount: x402.NewAmount(5), MaxTimeoutSeconds: timeout}, nil
}

type tabPayload struct {
	ID string `json:"id"`
	Do string `json:"do"`
}

func (*tabServer) Identify(p *x402.Payment) (x402.PaymentID, error) {
	var v tabPayload
	if err := p.Payload.Decode(&v); err != nil || v.ID == "" {
		return x402.PaymentID{}, errors.New("not a tab payment")
	}
	return x402.PaymentID{Key: x402.SettlementKey{Network: p.Requirements.Network, Asset: p.Requirements.Asset, Payer: "tab", Nonce: v.ID}}, nil
}

func (s *tabServer) Admit(_ context.Context, p *x402.Payment) (*x402.Admission, error) {
	var v tabPayload
	if err := p.Payload.Decode(&v); err != nil {
		return nil, err
	}
	switch v.Do {
	case "refuse":
		return &x402.Admission{Refused: &x402.VerifyResponse{InvalidReason: "tab_refused"}}, nil
	case "correct":
		req := p.Requirements
		req.Extra = x402.Object(`{"state":"charged 10"}`)
		return &x402.Admission{Refused: &x402.VerifyResponse{InvalidReason: "tab_mismatch"}, Corrected: &req}, nil
	case "op":
		sr := &x402.SettleResponse{Success: true, Transaction: "0xrefund", Network: p.Requirements.Network}
		return &x402.Admission{Done: &x402.Operation{Response: sr, Body: x402.Object(`{"message":"done"}`)}}, nil
	case "error":
		return nil, errors.New("store down")
	}
	return &x402.Admission{Payer: "tab", Charge: &tabCharge{s: s, id: v.ID, do: v.Do, network: p.Requirements.Network}}, nil
}

type tabCharge struct {
	s       *tabServer
	id, do  string
	network x402.Network
}

func (c *tabCharge) Commit(context.Context) (*x402.SettleResponse, error) {
	switch c.do {
	case "commitfail":
		return &x402.SettleResponse{Network: c.network, ErrorReason: "tab_busy"}, nil
	case "commiterr":
		return nil, errors.New("store down")
	}
	c.s.mu.Lock()
	c.s.committed = append(c.s.committed, c.id)
	c.s.mu.Unlock()
	return &x402.SettleResponse{Success: true, Transaction: "0xtab", Network: c.network, Payer: "tab"}, nil
}

func (c *tabCharge) Abort(context.Context) error {
	c.s.mu.Lock()
	c.s.aborted = append(c.s.aborted, c.id)
	c.s.mu.Unlock()
	return nil
}

// TestChargeAdmitterSeam: a stateful scheme takes over its payments; the
// facilitator is never called, the handler's answer leaves only once the
// charge is committed, and a payment operation skips the handler.
func TestChargeAdmitterSeam(t *testing.T) {
	tab := &tabServer{}
	schemes := new(x402.Registry[x402.SchemeServer])
	if err := schemes.Register(x402.V2, "tab", "eip155:*", tab); err != nil {
		t.Fatal(err)
	}
	mw, err := x402http.New(x402http.Config{Facilitator: unusedFacilitator{t}, Schemes: schemes, Routes: []x402http.Route{{
		Pattern: "GET /paid",
		Accepts: []x402http.PaymentOption{{Scheme: "tab", Network: "eip155:84532", Price: "$0.01", PayTo: "0x00000000000000000000000000000000000000aa"}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]bool{}
	var mu sync.Mutex
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ran[r.URL.Query().Get("id")] = true
		mu.Unlock()
		if _, ok := x402http.PaymentFromContext(r.Context()); !ok {
			t.Error("no payment in the handler's context")
		}
		switch r.URL.Query().Get("h") {
		case "fail":
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		case "panic":
			panic(http.ErrAbortHandler)
		}
		_, _ = w.Write([]byte("content"))
	})))
	defer srv.Close()
	req, err := (&tabServer{}).Requirements("eip155:84532", x402.Price{}, "0x00000000000000000000000000000000000000aa", x402http.DefaultMaxTimeoutSeconds)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id, do, handler string
		status          int
		ran             bool
		wantBody        string
		wantError       string // the 402's error
		settleTx        string // PAYMENT-RESPONSE transaction, "" for none
		failedSettle    bool   // a PAYMENT-RESPONSE with success false
		corrected       bool
	}{
		{id: "a", do: "charge", status: 200, ran: true, wantBody: "content", settleTx: "0xtab"},
		{id: "b", do: "refuse", status: 402, wantError: "tab_refused"},
		{id: "c", do: "correct", status: 402, wantError: "tab_mismatch", corrected: true},
		{id: "d", do: "op", status: 200, wantBody: `{"message":"done"}`, settleTx: "0xrefund"},
		{id: "e", do: "error", status: 503},
		{id: "f", do: "commitfail", status: 402, ran: true, wantError: "tab_busy", failedSettle: true},
		{id: "g", do: "commiterr", status: 503, ran: true},
		{id: "h", do: "charge", handler: "fail", status: 500, ran: true, wantBody: "broken"},
		{id: "i", do: "charge", handler: "panic", ran: true},
	}
	for _, tc := range tests {
		t.Run(tc.id+"_"+tc.do+tc.handler, func(t *testing.T) {
			payload, _ := x402.NewObject(tabPayload{ID: tc.id, Do: tc.do})
			h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: req, Payload: payload})
			if err != nil {
				t.Fatal(err)
			}
			hr, _ := http.NewRequest(http.MethodGet, srv.URL+"/paid?id="+tc.id+"&h="+tc.handler, nil)
			hr.Header.Set(x402.HeaderPaymentSignature, h)
			resp, err := http.DefaultClient.Do(hr)
			if tc.handler == "panic" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("a panicking handler's answer reached the client")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body := string(b)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if tc.wantBody != "" && strings.TrimSpace(body) != tc.wantBody {
				t.Errorf("body %q, want %q", body, tc.wantBody)
			}
			mu.Lock()
			if ran[tc.id] != tc.ran {
				t.Errorf("handler ran: %v, want %v", ran[tc.id], tc.ran)
			}
			mu.Unlock()
			if v := resp.Header.Get(x402.HeaderPaymentResponse); (v != "") != (tc.settleTx != "" || tc.failedSettle) {
				t.Errorf("PAYMENT-RESPONSE %q; want one naming %q (failed: %v)", v, tc.settleTx, tc.failedSettle)
			} else if v != "" {
				sr, err := x402.DecodePaymentResponse(v)
				if err != nil || sr.Transaction != tc.settleTx || sr.Success == tc.failedSettle {
					t.Errorf("PAYMENT-RESPONSE %+v %v; want transaction %q", sr, err, tc.settleTx)
				}
			}
			if tc.wantError != "" {
				pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
				if err != nil || pr.Error != tc.wantError {
					t.Fatalf("402 %+v %v; want error %s", pr, err, tc.wantError)
				}
				if got := string(pr.Accepts[0].Extra) == `{"state":"charged 10"}`; got != tc.corrected {
					t.Errorf("accepts extra %s; corrected %v", pr.Accepts[0].Extra, tc.corrected)
				}
			}
		})
	}
	tab.mu.Lock()
	defer tab.mu.Unlock()
	if strings.Join(tab.committed, ",") != "a" {
		t.Errorf("committed %v, want [a]", tab.committed)
	}
	// f and g committed unsuccessfully (the scheme ends them itself); h
	// failed and i panicked (the client may retry i): aborted.
	if got := strings.Join(slices.Compact(tab.aborted), ","); got != "h,i" {
		t.Errorf("aborted %v, want h and i", tab.aborted)
	}
}
