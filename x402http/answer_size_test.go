package x402http_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// unusedFacilitator fails the test if the middleware calls it: a 402
// needs no facilitator.
type unusedFacilitator struct{ t *testing.T }

func (f unusedFacilitator) Verify(context.Context, *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	f.t.Error("Verify called")
	return nil, errors.New("unused")
}

func (f unusedFacilitator) Settle(context.Context, *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	f.t.Error("Settle called")
	return nil, errors.New("unused")
}

func (f unusedFacilitator) Supported(context.Context) (*x402.SupportedResponse, error) {
	f.t.Error("Supported called")
	return nil, errors.New("unused")
}

// syncBuffer collects log output written by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A 402 whose PAYMENT-REQUIRED would exceed x402.MaxPaymentRequiredSize
// (8 KiB, though decoders accept 16 KiB) is refused as
// x402.EncodePaymentRequired refuses it: at New for a route with a fixed
// price, per request (500, logged) for a route priced by a func, and for a
// request whose own URL makes it too large, the 402 goes out without the
// header (logged) rather than one TypeScript clients might not receive.
func TestPaymentRequiredOverTheEncoderLimit(t *testing.T) {
	const payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
	opt := []x402http.PaymentOption{{Network: "eip155:84532", Price: "$0.01", PayTo: payTo}}
	schemes := evm.ServerSchemes(evm.DefaultNetworks())
	// Between the encoder's limit and the decoder's: accepted before the
	// limit was x402.MaxPaymentRequiredSize.
	tooLong := strings.Repeat("d", x402.MaxPaymentRequiredSize)
	if base64Len := (len(tooLong) + 2) / 3 * 4; base64Len >= x402.MaxHeaderSize {
		t.Fatalf("the description alone encodes to %d bytes, over the decoder's limit too", base64Len)
	}

	_, err := x402http.New(x402http.Config{Facilitator: unusedFacilitator{t}, Schemes: schemes, Routes: []x402http.Route{
		{Pattern: "GET /fits", Accepts: opt, Description: "fits"},
		{Pattern: "GET /big", Accepts: opt, Description: tooLong},
	}})
	if !errors.Is(err, x402.ErrHeaderTooLarge) || x402.ReasonOf(err) != x402.ReasonInvalidPaymentRequirements || !strings.Contains(err.Error(), `route "GET /big"`) || !strings.Contains(err.Error(), "more than 8192") {
		t.Fatalf("New with an oversized 402: %v", err)
	}

	var logs syncBuffer
	// A description that fits with a short URL, not with a long one.
	fits := strings.Repeat("d", x402.MaxPaymentRequiredSize*3/4-1000)
	mw, err := x402http.New(x402http.Config{
		Facilitator: unusedFacilitator{t},
		Schemes:     schemes,
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
		Routes: []x402http.Route{
			{Pattern: "GET /static", Accepts: opt, Description: fits},
			{Pattern: "GET /dynamic", Accepts: opt, Description: tooLong, Price: func(*http.Request) (x402.Price, error) {
				return x402.ParsePrice("$0.02")
			}},
		},
	})
	if err != nil {
		t.Fatalf("New refused a route priced by a func, or one that fits: %v", err)
	}
	srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the handler ran for %s", r.URL)
	})))
	t.Cleanup(srv.Close)
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	resp := get("/static")
	pr, err := x402.DecodePaymentRequired(resp.Header.Get(x402.HeaderPaymentRequired))
	if resp.StatusCode != http.StatusPaymentRequired || err != nil || pr.Resource.Description != fits {
		t.Fatalf("/static: %d, %v", resp.StatusCode, err)
	}
	if n := len(resp.Header.Get(x402.HeaderPaymentRequired)); n > x402.MaxPaymentRequiredSize {
		t.Fatalf("a %d-byte PAYMENT-REQUIRED", n)
	}

	resp = get("/static?q=" + strings.Repeat("q", 2000))
	if resp.StatusCode != http.StatusPaymentRequired || resp.Header.Get(x402.HeaderPaymentRequired) != "" {
		t.Errorf("/static with a long URL: %d, PAYMENT-REQUIRED of %d bytes", resp.StatusCode, len(resp.Header.Get(x402.HeaderPaymentRequired)))
	}
	if l := logs.String(); !strings.Contains(l, "PAYMENT-REQUIRED would be too large; sent without it") || !strings.Contains(l, "more than 8192") {
		t.Errorf("the oversized header was not logged:\n%s", l)
	}

	if resp := get("/dynamic"); resp.StatusCode != http.StatusInternalServerError || resp.Header.Get(x402.HeaderPaymentRequired) != "" {
		t.Errorf("/dynamic: %d, PAYMENT-REQUIRED of %d bytes", resp.StatusCode, len(resp.Header.Get(x402.HeaderPaymentRequired)))
	}
	if l := logs.String(); !strings.Contains(l, "building payment requirements") || !strings.Contains(l, "header would be too large for any request") {
		t.Errorf("the oversized dynamic 402 was not logged:\n%s", l)
	}
}
