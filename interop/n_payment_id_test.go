package interop

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
	"github.com/go402/go402/x402http"
)

// TestPaymentIdentifierInterop: the payment-identifier extension between
// go402 and the official packages. The go402 client answers an
// @x402/express 402 that requires an id (declared with the official
// helper) with an id the server accepts; @x402/fetch, which echoes the
// declaration without an id, pays a go402 route that declares it optional.
func TestPaymentIdentifierInterop(t *testing.T) {
	w := newWorld(t, 0)
	fac, facURL := w.goFacilitator()

	t.Run("go client, official server", func(t *testing.T) {
		w := w.sub(t)
		srv := w.start("server-v2.mjs", "Server", map[string]string{
			"FACILITATOR_URL":    facURL,
			"PAY_TO":             w.addr(acctPayee).Hex(),
			"PRICE_AMOUNT":       fmt.Sprint(priceAtoms),
			"DECLARE_PAYMENT_ID": "1",
		})
		b := w.snapshot(w.addr(acctGoPayer), w.addr(acctPayee))
		status, body, rcpt := w.goPay(acctGoPayer, srv.url("/paid"))
		if status != 200 || body != `{"paid":true,"served":1}` {
			t.Fatalf("paid: %d %q", status, body)
		}
		if !x402.ValidPaymentID(rcpt.PaymentID) {
			t.Errorf("receipt payment id %q", rcpt.PaymentID)
		}
		w.checkSettled(rcpt.Settlement, w.dev.Network())
		b.moved(priceAtoms)
	})

	t.Run("official client, go server", func(t *testing.T) {
		w := w.sub(t)
		mw, err := x402http.New(x402http.Config{
			Facilitator: fac,
			Schemes:     evm.ServerSchemes(w.nets),
			Routes: []x402http.Route{{
				Pattern:           "GET /weather",
				Accepts:           []x402http.PaymentOption{{Network: w.network(), Price: price, PayTo: w.addr(acctPayee).Hex()}},
				PaymentIdentifier: x402http.PaymentIDOptional,
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(mw.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "application/json")
			fmt.Fprint(rw, `{"forecast":"sunny"}`)
		})))
		t.Cleanup(srv.Close)
		b := w.snapshot(w.addr(acctNodePayer), w.addr(acctPayee))
		r := w.runClient("client-v2.mjs", map[string]string{"PRIVATE_KEY": w.key(acctNodePayer), "URL": srv.URL + "/weather"})
		if r.Status != 200 || r.Body != `{"forecast":"sunny"}` {
			t.Fatalf("paid: %d %q", r.Status, r.Body)
		}
		w.checkSettled(r.PaymentResponse, w.dev.Network())
		b.moved(priceAtoms)
	})
}
