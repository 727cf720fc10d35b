package facilitator_test

import (
	"crypto/ecdsa"
	"math/big"
	"strings"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// signWithID signs req as e.sign does, the payment carrying the
// payment-identifier id.
func (e *env) signWithID(t *testing.T, key *ecdsa.PrivateKey, id string) *x402.FacilitatorRequest {
	t.Helper()
	signer, err := evm.NewPrivateKeySignerFromECDSA(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewExactClient(evm.ExactClientConfig{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	obj, err := c.CreatePayload(t.Context(), x402.V2, e.req)
	if err != nil {
		t.Fatal(err)
	}
	exts := x402.Object(`{"payment-identifier":{"info":{"required":false,"id":"` + id + `"}}}`)
	req := e.req
	return x402.NewFacilitatorRequest(&x402.PaymentPayload{X402Version: 2, Accepted: req, Payload: obj, Extensions: exts,
		Resource: &x402.ResourceInfo{URL: "https://api.example.com/weather"}}, &req)
}

func TestSettlePaymentIdentifier(t *testing.T) {
	stores(t, func(t *testing.T, e *env) {
		fac, _ := e.facilitator(t, 3)
		payer := e.net.Accounts()[0].PrivateKey
		before := e.balance(t, e.payee)
		id := x402.NewPaymentID()
		first := e.signWithID(t, payer, id)
		s1, err := fac.Settle(t.Context(), first)
		if err != nil || !s1.Success {
			t.Fatalf("first: %+v %v", s1, err)
		}
		// The same payment and id again: the first outcome, no new transfer.
		s2, err := fac.Settle(t.Context(), first)
		if err != nil || !s2.Success || s2.Transaction != s1.Transaction {
			t.Errorf("repeat: %+v %v (first %s)", s2, err, s1.Transaction)
		}
		// Another payment (a new authorization) under the used id: refused,
		// not settled.
		other := e.signWithID(t, payer, id)
		s3, err := fac.Settle(t.Context(), other)
		if err != nil || s3.Success || s3.ErrorReason != x402.ReasonPaymentIDConflict || s3.Transaction != "" {
			t.Errorf("other payment, same id: %+v %v", s3, err)
		}
		// An id outside 16-128 characters: refused.
		for _, bad := range []string{strings.Repeat("a", 15), strings.Repeat("a", 129)} {
			s, err := fac.Settle(t.Context(), e.signWithID(t, payer, bad))
			if err != nil || s.Success || s.ErrorReason != x402.ReasonInvalidPaymentID {
				t.Errorf("id of %d chars: %+v %v", len(bad), s, err)
			}
		}
		// One transfer in all.
		got := new(big.Int).Sub(e.balance(t, e.payee), before)
		if got.Cmp(e.req.Amount.Big()) != 0 {
			t.Errorf("payee received %s, want one payment of %s", got, e.req.Amount)
		}
	})
}
