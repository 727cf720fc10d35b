package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go402/go402/gateway"
	"github.com/go402/go402/x402"
)

// standInUpto is a test-only metered scheme registered as "upto": it
// stands in for the EVM upto scheme server so that these tests exercise
// how the gateway reads its upstream's usage (the middleware's metering
// is tested in x402http, on the devnet with the real scheme).
type standInUpto struct{}

func (standInUpto) Scheme() string { return "upto" }

func (standInUpto) Requirements(network x402.Network, price x402.Price, payTo string, timeout int) (x402.PaymentRequirements, error) {
	a, err := price.Atomic(6)
	return x402.PaymentRequirements{Scheme: "upto", Network: network, Asset: "0x0000000000000000000000000000000000000001", PayTo: payTo, Amount: a, MaxTimeoutSeconds: timeout}, err
}

func (standInUpto) Identify(p *x402.Payment) (x402.PaymentID, error) {
	var v struct {
		ID string `json:"id"`
	}
	if err := p.Payload.Decode(&v); err != nil || v.ID == "" {
		return x402.PaymentID{}, errors.New("not a stand-in payment")
	}
	return x402.PaymentID{Key: x402.SettlementKey{Network: p.Requirements.Network, Asset: p.Requirements.Asset, Payer: "0xpayer", Nonce: v.ID}}, nil
}

func (standInUpto) UsageRequirements(accepted x402.PaymentRequirements, used x402.Amount) (x402.PaymentRequirements, error) {
	accepted.Amount = used
	return accepted, nil
}

// amountFacilitator verifies everything and records what it settles.
type amountFacilitator struct {
	mu      sync.Mutex
	settled []string
}

func (f *amountFacilitator) Verify(context.Context, *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	return &x402.VerifyResponse{IsValid: true, Payer: "0xpayer"}, nil
}

func (f *amountFacilitator) Settle(_ context.Context, r *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	a := r.Requirements.Amount
	f.mu.Lock()
	f.settled = append(f.settled, a.String())
	f.mu.Unlock()
	sr := &x402.SettleResponse{Success: true, Network: r.Requirements.Network, Amount: &a}
	if !a.IsZero() {
		sr.Transaction = "0x" + strings.Repeat("ef", 32)
	}
	return sr, nil
}

func (f *amountFacilitator) Supported(context.Context) (*x402.SupportedResponse, error) {
	return &x402.SupportedResponse{}, nil
}

func (f *amountFacilitator) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.settled) == 0 {
		return ""
	}
	return f.settled[len(f.settled)-1]
}

// TestMeteredRoutes: an upto route charges what its upstream reports in
// the usage header (or trailer, for a stream), in atomic units or in units
// at the unit price, capped at the price, and the client never sees the
// report.
func TestMeteredRoutes(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("sse") != "" {
			w.Header().Set("Trailer", "X-Tokens")
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				http.NewResponseController(w).Flush()
			}
			w.Header().Set("X-Tokens", "3")
			return
		}
		if u := q.Get("usage"); u != "" {
			w.Header().Set("X-Usage", u)
			w.Header().Set("X-Tokens", u)
		}
		fmt.Fprint(w, "answer")
	}))
	t.Cleanup(up.Close)
	fac := &amountFacilitator{}
	schemes := new(x402.Registry[x402.SchemeServer])
	if err := schemes.Register(x402.V2, "upto", "eip155:*", standInUpto{}); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`facilitator: {url: https://f.example}
network: eip155:84532
payTo: 0x209693bc6afc0c5328ba36faf03c514ef312287c
routes:
  - {path: /amount, upstream: %[1]s, price: $0.0001, scheme: upto}
  - {path: /tokens, upstream: %[1]s, price: $0.0001, scheme: upto, metering: {header: X-Tokens, unitPrice: $0.00002}}
`, up.URL)
	cfg, err := gateway.Parse("gw.yaml", []byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(t.Context(), cfg, gateway.Deps{Facilitator: fac, Schemes: schemes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	pay := func(path, id string) *http.Response {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
		if err != nil || resp.StatusCode != 402 {
			t.Fatalf("402: %d %v", resp.StatusCode, err)
		}
		h, _ := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Accepted: pr.Accepts[0], Payload: x402.Object(`{"id":"` + id + `"}`)})
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+path, nil)
		req.Header.Set(x402.HeaderPaymentSignature, h)
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tc := range []struct{ name, path, want string }{
		{"atomic units", "/amount?usage=42", "42"},
		{"no report charges nothing", "/amount", "0"},
		{"capped at the price", "/amount?usage=1000", "100"},
		{"malformed report charges nothing", "/amount?usage=4x", "0"},
		{"units at the unit price", "/tokens?usage=3", "60"},
		{"streamed units in a trailer", "/tokens?sse=1", "60"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := pay(tc.path, tc.name)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || len(body) == 0 {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			name := "X-Usage"
			if strings.HasPrefix(tc.path, "/tokens") {
				name = "X-Tokens"
			}
			for _, h := range []http.Header{resp.Header, resp.Trailer} {
				if h.Get(name) != "" {
					t.Fatalf("usage report leaked to the client: %v", h)
				}
			}
			if strings.Contains(resp.Header.Get("Trailer"), "X-Tokens") {
				t.Fatalf("usage trailer still announced: %v", resp.Header)
			}
			if got := fac.last(); got != tc.want {
				t.Fatalf("settled %s, want %s", got, tc.want)
			}
			sr := resp.Header.Get(x402.HeaderPaymentResponse)
			if sr == "" {
				sr = resp.Trailer.Get(x402.HeaderPaymentResponse)
			}
			if dec, err := x402.DecodePaymentResponse(sr); err != nil || dec.Amount == nil || dec.Amount.String() != tc.want {
				t.Fatalf("receipt %q: %+v %v", sr, dec, err)
			}
		})
	}
}
