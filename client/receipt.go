package client

import (
	"io"
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
	// if the server sent none. A streamed answer (a metered "upto" route
	// streaming server-sent events) carries it as an HTTP trailer: it is
	// set once the body was read to its end.
	Settlement *x402.SettleResponse
	// Unspent reports that the server answered with an error and no
	// settlement (or a failed one), and the chain then showed the
	// authorization unused, so the client's budget released it. False
	// when the payment was settled, or may still be (it stays counted).
	Unspent bool
	// PaymentID is the payment-identifier sent with the payment (the
	// idempotency key of the paid request), when the server declared
	// the extension; "" otherwise.
	PaymentID string
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

// receiptFromTrailer arranges for the receipt of a streamed answer, which
// a server sends as a PAYMENT-RESPONSE trailer (metered "upto" routes of
// x402http do), to fill receipt.Settlement once the body was read to its
// end: a trailer is known only then.
func receiptFromTrailer(resp *http.Response, receipt *Receipt) (declared bool) {
	for _, name := range []string{x402.HeaderPaymentResponse, x402.HeaderXPaymentResponse} {
		if _, ok := resp.Trailer[http.CanonicalHeaderKey(name)]; ok {
			declared = true
		}
	}
	if !declared || resp.Body == nil {
		return declared
	}
	resp.Body = &trailerBody{ReadCloser: resp.Body, resp: resp, receipt: receipt}
	return true
}

// trailerBody reads the receipt from the trailers at the body's end.
type trailerBody struct {
	io.ReadCloser
	resp    *http.Response
	receipt *Receipt
	done    bool
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		if sr := settlementFrom(b.resp.Trailer); sr != nil {
			b.receipt.Settlement = sr
			if sr.Payer != "" {
				b.receipt.Payer = sr.Payer
			}
		}
	}
	return n, err
}
