package client

import (
	"context"
	"errors"
	"net/http"

	"github.com/go402/go402/x402"
)

// Quote is what paying for a request would involve, found without paying.
type Quote struct {
	// URL is the request's URL.
	URL string
	// Free is true when the server did not ask for payment.
	Free bool
	// StatusCode is the status of the unpaid answer (402 unless Free).
	StatusCode int
	// Option is the option that would be paid; if the policy refuses
	// every option, the one whose refusal is reported in Refusal. Nil if
	// Free.
	Option *Option
	// Options are every option this client could pay, in preference
	// order, allowed by the policy or not.
	Options []Option
	// Refusal is the *PolicyError the payment would fail with, nil if the
	// policy allows Option. The approval callback is not consulted.
	Refusal error
	// Resource is the paid resource as the server describes it.
	Resource *x402.ResourceInfo
}

// Quote sends req without payment and reports what paying for it would
// involve: the option RoundTrip would pay and whether the policy would
// allow it. It signs nothing, reserves nothing and does not call
// Policy.Approve. If the answer is not 402, the Quote is Free.
//
// Quote really sends req, once and unpaid (consuming its body), but does
// not modify it; the response body is closed. A server that asks for no
// payment serves it as usual, so quote only requests that are safe to
// send: GET or HEAD, or a method the server is known to price. It fails with ErrNotX402 for a 402
// without x402 requirements and ErrNoPayableOption if no option can be
// paid by this client.
func (c *Client) Quote(ctx context.Context, req *http.Request) (*Quote, error) {
	r := req.Clone(ctx)
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	q := &Quote{URL: req.URL.String(), StatusCode: resp.StatusCode}
	if resp.StatusCode != http.StatusPaymentRequired {
		drainClose(resp.Body)
		q.Free = true
		return q, nil
	}
	off, err := readOffer(resp)
	if err != nil {
		if errors.Is(err, ErrNotX402) {
			drainClose(resp.Body)
		}
		return nil, err
	}
	ch, err := c.choose(ctx, off, hostKey(req.URL))
	if err != nil {
		return nil, err
	}
	q.Options = ch.options
	if len(ch.allowed) > 0 {
		o := ch.allowed[0]
		q.Option = &o
	} else {
		q.Option = ch.refusal.Option
		q.Refusal = ch.refusal
	}
	q.Resource = off.resourceFor(q.Option.index)
	return q, nil
}
