package client

import (
	"net/http"

	"github.com/go402/go402/x402"
)

// Receipt is the payment made for a response.
type Receipt struct {
	// Option is the option paid.
	Option Option
	// Payer is the paying address.
	Payer string
	// Settlement is the server's settlement report, from PAYMENT-RESPONSE
	// or X-PAYMENT-RESPONSE: its Transaction is the transaction hash. Nil
	// if the server sent none.
	Settlement *x402.SettleResponse
	// Unspent reports that the server answered with an error and no
	// settlement (or a failed one), and the chain then showed the
	// authorization unused, so the client's budget released it. False
	// when the payment was settled, or may still be (it stays counted).
	Unspent bool
}

// receiptKey is the context key of the *Receipt of a paid request.
type receiptKey struct{}

// ReceiptFromResponse returns the payment made for resp by a [Client], if
// any. It works on responses from Client.RoundTrip and from an http.Client
// using the Client as its transport.
func ReceiptFromResponse(resp *http.Response) (*Receipt, bool) {
	if resp == nil || resp.Request == nil {
		return nil, false
	}
	r, ok := resp.Request.Context().Value(receiptKey{}).(*Receipt)
	return r, ok && r != nil
}
