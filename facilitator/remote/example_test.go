package remote_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go402/go402/facilitator/remote"
	"github.com/go402/go402/x402"
)

func Example() {
	// A stand-in facilitator: it rejects every payment with a verdict and
	// fails every settlement like the Go reference facilitator does.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/facilitator/verify":
			_ = json.NewEncoder(w).Encode(x402.VerifyResponse{
				IsValid:       false,
				InvalidReason: x402.ReasonInsufficientFunds,
				Payer:         "0x857b06519E91e3A54538791bDbb0E22373e36b66",
			})
		case "/facilitator/settle":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = fmt.Fprint(w, `{"error":"unexpected_settle_error: rpc unavailable"}`)
		case "/facilitator/supported":
			_, _ = fmt.Fprint(w, `{"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:84532"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	c, err := remote.New(remote.Config{
		URL: srv.URL + "/facilitator/",
		Headers: func(ctx context.Context, endpoint string) (http.Header, error) {
			return http.Header{"Authorization": {"Bearer example-token"}}, nil
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	sup, err := c.Supported(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("supported:", sup.Kinds[0].Scheme, sup.Kinds[0].Network)

	req := x402.PaymentRequirements{
		Scheme:            "exact",
		Network:           "eip155:84532",
		Amount:            x402.NewAmount(1000),
		Asset:             "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
		PayTo:             "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
		MaxTimeoutSeconds: 60,
	}
	payload := &x402.PaymentPayload{
		X402Version: x402.V2,
		Accepted:    req,
		Payload:     x402.Object(`{"signature":"0x..."}`),
	}
	fr := x402.NewFacilitatorRequest(payload, &req)

	// A rejected payment is a verdict, not an error.
	v, err := c.Verify(ctx, fr)
	if err != nil {
		panic(err)
	}
	fmt.Println("valid:", v.IsValid, "reason:", v.InvalidReason)

	// A 500 is an error: no verdict, and the payment may have been settled.
	_, err = c.Settle(ctx, fr)
	var he *remote.HTTPError
	if errors.As(err, &he) {
		fmt.Println("settle:", he.StatusCode, he.Message)
	}
	fmt.Println("outcome unknown:", errors.Is(err, remote.ErrSettleOutcomeUnknown))
	// Output:
	// supported: exact eip155:84532
	// valid: false reason: insufficient_funds
	// settle: 500 unexpected_settle_error: rpc unavailable
	// outcome unknown: true
}
