// Package benchapi owns the in-process paid API that go402's middleware
// benchmarks measure, so that the Go benchmarks (x402http) and `go402 bench`
// time exactly the same thing: GET /weather at $0.001 behind the x402http
// middleware, a facilitator that answers at once, and a valid signed
// payment for the route. With the facilitator taken out, the figures are
// the middleware's own cost.
package benchapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// URL is the paid resource; FreeURL matches no route.
const (
	URL     = "http://api.example/weather"
	FreeURL = "http://api.example/free"
)

// instantPayer is the payer the instant facilitator reports.
const instantPayer = "0x0000000000000000000000000000000000000001"

// InstantFacilitator accepts every payment and settles it at once, without
// looking at it. It is for measuring the middleware alone, never for money.
type InstantFacilitator struct{}

// Verify answers valid.
func (InstantFacilitator) Verify(context.Context, *x402.FacilitatorRequest) (*x402.VerifyResponse, error) {
	return &x402.VerifyResponse{IsValid: true, Payer: instantPayer}, nil
}

// Settle answers settled, with a fixed transaction hash.
func (InstantFacilitator) Settle(_ context.Context, req *x402.FacilitatorRequest) (*x402.SettleResponse, error) {
	return &x402.SettleResponse{Success: true, Transaction: common.Hash{1}.Hex(), Network: req.Network(), Payer: instantPayer}, nil
}

// Supported answers with no kinds.
func (InstantFacilitator) Supported(context.Context) (*x402.SupportedResponse, error) {
	return &x402.SupportedResponse{}, nil
}

// API is the paid API and a payment for it.
type API struct {
	Plain   http.Handler // the handler alone, unprotected
	Paid    http.Handler // the same handler through the middleware
	Payment string       // a PAYMENT-SIGNATURE header value for GET URL
}

// New builds the API with a fresh random payer key.
func New(ctx context.Context) (*API, error) {
	asset := evm.Asset{Address: common.HexToAddress("0x036CbD53842c5426634e7929541eC2318f3dCF7e"), Symbol: "USDC", Name: "USDC", Version: "2", Decimals: 6}
	nets := &evm.Networks{}
	if err := nets.Add(evm.NetworkConfig{ChainID: 84532, Assets: []evm.Asset{asset}}); err != nil {
		return nil, err
	}
	schemes := new(x402.Registry[x402.SchemeServer])
	if err := schemes.Register(x402.V2, evm.SchemeExact, "eip155:*", &freshKeys{SchemeServer: &evm.ExactServer{Networks: nets}}); err != nil {
		return nil, err
	}
	mw, err := x402http.New(x402http.Config{
		Facilitator: InstantFacilitator{},
		Schemes:     schemes,
		Routes: []x402http.Route{{Pattern: "GET /weather", Description: "Weather", MimeType: "application/json",
			Accepts: []x402http.PaymentOption{{Network: "eip155:84532", Price: "$0.001", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}}}},
	})
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"city":"Lisbon","forecast":"sunny","celsius":22}`)
	})
	api := &API{Plain: h, Paid: mw.Handler(h)}

	rec := httptest.NewRecorder()
	api.Paid.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, URL, nil))
	pr, err := x402.DecodePaymentRequired(rec.Header().Get(x402.HeaderPaymentRequired))
	if err != nil {
		return nil, fmt.Errorf("benchapi: 402 answer (status %d): %w", rec.Code, err)
	}
	if len(pr.Accepts) == 0 {
		return nil, errors.New("benchapi: 402 answer offers no payment option")
	}
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		return nil, err
	}
	client, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		return nil, err
	}
	obj, err := client.CreatePayload(ctx, x402.V2, pr.Accepts[0])
	if err != nil {
		return nil, err
	}
	api.Payment, err = x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj})
	if err != nil {
		return nil, err
	}
	return api, nil
}

// freshKeys is the EVM "exact" server with one change for measuring: every
// payment it identifies gets a key of its own, so that the one payment
// measured over and over is not refused as already used (the middleware
// keeps a settled payment's claim until it expires). It does all the work
// of Identify.
type freshKeys struct {
	x402.SchemeServer
	n atomic.Uint64
}

func (f *freshKeys) Identify(p *x402.Payment) (x402.PaymentID, error) {
	id, err := f.SchemeServer.Identify(p)
	id.Key.Nonce += "/" + strconv.FormatUint(f.n.Add(1), 10)
	return id, err
}

// Requests returns the three requests measured: unpaid to the paid route
// (the 402 path), paid, and to a route with no price (pass-through).
func (a *API) Requests() (unpaid, paid, free *http.Request) {
	unpaid = httptest.NewRequest(http.MethodGet, URL, nil)
	paid = httptest.NewRequest(http.MethodGet, URL, nil)
	paid.Header.Set(x402.HeaderPaymentSignature, a.Payment)
	free = httptest.NewRequest(http.MethodGet, FreeURL, nil)
	return unpaid, paid, free
}

// Writer is a reusable ResponseWriter that discards the body, so that a
// measurement does not include a recorder's buffering.
type Writer struct {
	h      http.Header
	Status int
}

// NewWriter returns an empty Writer.
func NewWriter() *Writer { return &Writer{h: http.Header{}} }

// Header returns the response header map.
func (w *Writer) Header() http.Header { return w.h }

// Write discards p.
func (w *Writer) Write(p []byte) (int, error) {
	if w.Status == 0 {
		w.Status = http.StatusOK
	}
	return len(p), nil
}

// WriteHeader records the status.
func (w *Writer) WriteHeader(status int) {
	if w.Status == 0 {
		w.Status = status
	}
}

// Reset clears the header and status for the next request.
func (w *Writer) Reset() {
	clear(w.h)
	w.Status = 0
}

// Serve runs one request through h and checks the status.
func Serve(h http.Handler, w *Writer, r *http.Request, want int) error {
	w.Reset()
	h.ServeHTTP(w, r)
	if w.Status != want {
		return fmt.Errorf("benchapi: status %d, want %d", w.Status, want)
	}
	return nil
}
