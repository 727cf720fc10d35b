// Package x402http is the resource server side of x402 for net/http: a
// middleware, func(http.Handler) http.Handler, that answers requests to
// priced routes with 402 Payment Required, verifies the payment a client
// sends back (PAYMENT-SIGNATURE in v2, X-PAYMENT in v1) through any
// [x402.Facilitator], and settles it before serving (SettleBeforeServe) or
// after (ServeThenSettle, through a durable queue). Requests to other routes
// pass through untouched.
//
// # The 402 answer
//
// A 402 carries the v2 PAYMENT-REQUIRED header (base64 JSON
// PaymentRequired), a JSON body that v1 clients understand
// ({"x402Version":1,"error":...,"accepts":[v1 requirements]}, listing the
// options whose network has a v1 name), Cache-Control: no-store, and CORS
// headers exposing PAYMENT-REQUIRED, PAYMENT-RESPONSE and
// X-PAYMENT-RESPONSE; preflight requests may send PAYMENT-SIGNATURE and
// X-PAYMENT. Browsers (Accept: text/html) get an HTML paywall instead of the
// JSON body, still with the PAYMENT-REQUIRED header.
//
// # Paying requests
//
// The payment must match a requirement built for this very request on every
// field (addresses case-insensitively, the amount exactly, extra as JSON).
// The facilitator verifies it against the server's requirements, not the
// client's copy, and IsValid is checked explicitly. A handler status of 400
// or more is never charged. The verified payment is available to the
// handler through [PaymentFromContext].
package x402http
