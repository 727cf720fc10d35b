package client_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go402/go402/client"
	"github.com/go402/go402/evm"
	"github.com/go402/go402/x402"
)

// TestReceiptFromTrailer: a streamed answer carries its receipt as a
// PAYMENT-RESPONSE trailer (metered routes of x402http do); the Client's
// receipt has it once the body was read to its end.
func TestReceiptFromTrailer(t *testing.T) {
	s := newShop(t)
	srv, _, err := evm.ServerSchemes(s.nets).Lookup(x402.V2, "exact", "eip155:84532")
	if err != nil {
		t.Fatal(err)
	}
	price, _ := x402.ParsePrice("$0.001")
	req, err := srv.Requirements("eip155:84532", price, s.payees[0].Hex(), 300)
	if err != nil {
		t.Fatal(err)
	}
	req.Scheme = "exact"
	used := x402.NewAmount(400)
	sr := &x402.SettleResponse{Success: true, Transaction: "0x" + strings.Repeat("cd", 32), Network: "eip155:84532", Payer: "0x00000000000000000000000000000000000000aa", Amount: &used}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(x402.HeaderPaymentSignature) == "" {
			enc, err := x402.EncodePaymentRequired(&x402.PaymentRequired{X402Version: x402.V2, Resource: x402.ResourceInfo{URL: "http://" + r.Host + r.URL.Path}, Accepts: []x402.PaymentRequirements{req}})
			if err != nil {
				t.Error(err)
			}
			w.Header().Set(x402.HeaderPaymentRequired, enc)
			w.WriteHeader(http.StatusPaymentRequired)
			return
		}
		w.Header().Set("Trailer", x402.HeaderPaymentResponse)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
		}
		enc, _ := x402.EncodePaymentResponse(sr)
		w.Header().Set(x402.HeaderPaymentResponse, enc)
	}))
	defer ts.Close()
	c, _ := s.client(t, client.Policy{})
	resp, err := s.get(t, c, ts.URL+"/stream")
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := client.ReceiptFromResponse(resp)
	if !ok || rec.Settlement != nil {
		t.Fatalf("receipt before the body was read: %+v", rec)
	}
	if body := readAll(t, resp.Body); body != "data: 0\n\ndata: 1\n\ndata: 2\n\n" {
		t.Fatalf("body %q", body)
	}
	if rec.Settlement == nil || !rec.Settlement.Success || rec.Settlement.Amount.String() != "400" || rec.Payer != sr.Payer {
		t.Fatalf("receipt after the body: %+v", rec.Settlement)
	}
}

// TestTrailerReceiptKeepsPaymentCounted: an error status whose receipt is
// declared as a trailer does not free the budget when the headers arrive
// (a metered route settles after the body, whatever its status, and the
// chain shows the authorization unused until then): the payment stays
// counted, outstanding, until the chain tells.
func TestTrailerReceiptKeepsPaymentCounted(t *testing.T) {
	s := newShop(t)
	srv, _, err := evm.ServerSchemes(s.nets).Lookup(x402.V2, "exact", "eip155:84532")
	if err != nil {
		t.Fatal(err)
	}
	price, _ := x402.ParsePrice("$0.001")
	req, err := srv.Requirements("eip155:84532", price, s.payees[0].Hex(), 300)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(x402.HeaderPaymentSignature) == "" {
			enc, err := x402.EncodePaymentRequired(&x402.PaymentRequired{X402Version: x402.V2, Resource: x402.ResourceInfo{URL: "http://" + r.Host + r.URL.Path}, Accepts: []x402.PaymentRequirements{req}})
			if err != nil {
				t.Error(err)
			}
			w.Header().Set(x402.HeaderPaymentRequired, enc)
			w.WriteHeader(http.StatusPaymentRequired)
			return
		}
		w.Header().Set("Trailer", x402.HeaderPaymentResponse)
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "partial")
	}))
	defer ts.Close()
	c, _ := s.client(t, client.Policy{Budget: "$1"})
	resp, err := s.get(t, c, ts.URL+"/stream")
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp.Body)
	if sp := spending(t, c); sp.Spent != "0.001" || sp.Outstanding != "0.001" {
		t.Fatalf("after a 500 whose receipt was to follow as a trailer: %+v, want 0.001 spent and outstanding", sp)
	}
}
