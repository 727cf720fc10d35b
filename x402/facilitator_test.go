package x402_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go402/go402/x402"
)

func TestFacilitatorRequestRejects(t *testing.T) {
	v2 := string(readGolden(t, "v2_facilitator_request.json"))
	tests := []struct {
		name   string
		body   string
		reason x402.Reason
	}{
		{"not JSON", `{`, x402.ReasonInvalidPayload},
		{"missing payload", `{"x402Version":2,"paymentRequirements":{}}`, x402.ReasonInvalidPayload},
		{"null requirements", `{"x402Version":2,"paymentPayload":{"x402Version":2},"paymentRequirements":null}`, x402.ReasonInvalidPayload},
		{"version mismatch", strings.Replace(v2, `"x402Version": 2,`, `"x402Version": 1,`, 1), x402.ReasonInvalidX402Version},
		{"version 9", strings.ReplaceAll(v2, `"x402Version": 2`, `"x402Version": 9`), x402.ReasonInvalidX402Version},
		{"bad requirements amount", strings.Replace(v2, `"amount": "10000",`, `"amount": "ten",`, 1), x402.ReasonInvalidPayload},
		{"duplicate key", strings.Replace(v2, `"x402Version": 2,`, `"x402Version": 2, "X402VERSION": 1,`, 1), x402.ReasonInvalidPayload},
		{"too large", `{"x402Version":2,"pad":"` + strings.Repeat("x", x402.MaxJSONSize) + `"}`, x402.ReasonInvalidPayload},
		{"negative timeout", strings.ReplaceAll(v2, `"maxTimeoutSeconds": 60`, `"maxTimeoutSeconds": -1`), x402.ReasonInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := x402.DecodeFacilitatorRequest([]byte(tt.body))
			if got := x402.ReasonOf(err); got != tt.reason {
				t.Errorf("reason %q, want %q: %v", got, tt.reason, err)
			}
		})
	}
}

// @x402/evm's batch-settlement server sends its claim, settle and refund
// payloads to /settle with maxTimeoutSeconds 0 (and amount "0"): a v2
// batch-settlement facilitator request takes it; an exact one and
// PaymentRequirements.Validate do not.
func TestFacilitatorRequestZeroTimeout(t *testing.T) {
	exact := strings.ReplaceAll(string(readGolden(t, "v2_facilitator_request.json")), `"maxTimeoutSeconds": 60`, `"maxTimeoutSeconds": 0`)
	if _, err := x402.DecodeFacilitatorRequest([]byte(exact)); err == nil {
		t.Fatal("an exact request took maxTimeoutSeconds 0")
	}
	v2 := strings.ReplaceAll(exact, `"scheme": "exact"`, `"scheme": "batch-settlement"`)
	r, err := x402.DecodeFacilitatorRequest([]byte(v2))
	if err != nil || r.Requirements.MaxTimeoutSeconds != 0 || r.Payload.Accepted.MaxTimeoutSeconds != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	if err := r.Requirements.Validate(); err == nil {
		t.Fatal("PaymentRequirements.Validate took maxTimeoutSeconds 0")
	}
}

func TestFacilitatorRequestTopVersionOptional(t *testing.T) {
	body := strings.Replace(string(readGolden(t, "v1_facilitator_request.json")), `"x402Version": 1,`, ``, 1)
	r, err := x402.DecodeFacilitatorRequest([]byte(body))
	if err != nil || r.X402Version != 1 || r.Network() != "base-sepolia" {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestFacilitatorRequestConstructors(t *testing.T) {
	p, err := x402.DecodePaymentSignature(strings.TrimSpace(string(readGolden(t, "v2_payment_signature.b64"))))
	if err != nil {
		t.Fatal(err)
	}
	r := x402.NewFacilitatorRequest(p, &p.Accepted)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, b, readGolden(t, "v2_facilitator_request.json")) {
		t.Errorf("marshal: %s", b)
	}
	if _, err := json.Marshal(&x402.FacilitatorRequest{X402Version: 5}); !errors.Is(err, x402.ErrUnsupportedVersion) {
		t.Errorf("marshal of version 5: %v", err)
	}
	if _, err := (&x402.FacilitatorRequest{X402Version: 2}).Payment(); x402.ReasonOf(err) != x402.ReasonInvalidPayload {
		t.Errorf("Payment of an empty request: %v", err)
	}
	empty := &x402.FacilitatorRequest{}
	if empty.Scheme() != "" || empty.Network() != "" {
		t.Error("empty request has a scheme or network")
	}
	v1 := x402.NewFacilitatorRequestV1(&x402.PaymentPayloadV1{X402Version: 1, Scheme: "exact", Network: "base", Payload: x402.Object(`{}`)}, nil)
	if err := v1.Validate(); err == nil {
		t.Error("v1 request without requirements validated")
	}
}
