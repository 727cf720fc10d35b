package gateway_test

import (
	"math/big"
	"net/http"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// TestPaymentIdentifierRoute: a route with paymentIdentifier: required
// declares the extension; a payment with an id sent twice (its answer
// lost) is proxied and settled once, and answered twice alike; a payment
// without an id is refused 400.
func TestPaymentIdentifierRoute(t *testing.T) {
	e := newEnv(t)
	up := newUpstream(t)
	cfg := e.config(t, "routes:\n  - {path: GET /order, upstream: "+up.URL+", price: $0.001, paymentIdentifier: required}\n")
	_, srv := e.start(t, cfg)
	pr := required(t, get(t, srv.URL, "/order"))
	if p, err := x402.ParsePaymentIdentifier(pr.Extensions); err != nil || !p.Required {
		t.Fatalf("402 extensions %s: %+v %v", pr.Extensions, p, err)
	}
	signer, err := evm.NewPrivateKeySignerFromECDSA(e.payer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	pay := func(withID bool) string {
		obj, err := c.CreatePayload(t.Context(), x402.V2, pr.Accepts[0])
		if err != nil {
			t.Fatal(err)
		}
		exts := pr.Extensions
		if withID {
			if exts, err = x402.WithPaymentID(exts, x402.NewPaymentID()); err != nil {
				t.Fatal(err)
			}
		}
		h, err := x402.EncodePaymentSignature(&x402.PaymentPayload{X402Version: x402.V2, Resource: &pr.Resource, Accepted: pr.Accepts[0], Payload: obj, Extensions: exts})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if r := send(t, http.MethodGet, srv.URL, "/order", http.Header{x402.HeaderPaymentSignature: {pay(false)}}); r.status != http.StatusBadRequest {
		t.Fatalf("no id: %d %s", r.status, r.body)
	}
	before := e.balance(t, e.payTo)
	h := pay(true)
	r1 := send(t, http.MethodGet, srv.URL, "/order", http.Header{x402.HeaderPaymentSignature: {h}})
	r2 := send(t, http.MethodGet, srv.URL, "/order", http.Header{x402.HeaderPaymentSignature: {h}})
	if r1.status != 200 || r2.status != 200 || r1.body != r2.body || r2.header.Get(x402.HeaderPaymentResponse) == "" ||
		r1.header.Get(x402.HeaderPaymentResponse) != r2.header.Get(x402.HeaderPaymentResponse) {
		t.Fatalf("first %d %s, resend %d %s", r1.status, r1.body, r2.status, r2.body)
	}
	if up.calls.Load() != 1 {
		t.Errorf("upstream called %d times", up.calls.Load())
	}
	if got := new(big.Int).Sub(e.balance(t, e.payTo), before); got.Cmp(big.NewInt(1000)) != 0 {
		t.Errorf("payee received %s, want 1000", got)
	}
}
