// Package remote is an HTTP client for x402 facilitators: it implements
// [x402.Facilitator] by calling POST {URL}/verify, POST {URL}/settle and
// GET {URL}/supported of any facilitator that speaks the x402 HTTP API (the
// hosted CDP facilitator, x402.org, the reference TypeScript and Go
// facilitators, or go402's own).
//
// # Verdicts and errors
//
// A bad payment is a verdict, not an error. A 2xx answer with
// {"isValid":false,...} is returned as a [x402.VerifyResponse] with IsValid
// false and a nil error, and a 2xx {"success":false,...} as a
// [x402.SettleResponse] with Success false (this includes a pending
// settlement, reason settlement_pending, whose transaction hash is kept).
// Some facilitators send a rejection with a client-error status instead: the
// hosted CDP facilitator answers 400 with a VerifyResponse body. A 400, 402,
// 409 or 422 response whose body is a VerifyResponse with isValid false (or a
// SettleResponse with success false) is therefore returned as that verdict.
//
// Everything else is an error, meaning that no verdict was reached:
//   - any other non-2xx response is an [*HTTPError] carrying the status, the
//     endpoint, the start of the body and the facilitator's message (the
//     "error" field of a body such as {"error":"<reason>: <msg>"}, which is
//     what the Go reference facilitator sends with a 500). A 5xx answer is
//     never a verdict, even when its body looks like one; such a body is
//     kept decoded in HTTPError.Verify or HTTPError.Settle;
//   - a 2xx body that is not JSON, lacks isValid (verify), lacks success or
//     network, or claims success without a transaction (settle) wraps
//     [ErrMalformedResponse]; a 2xx body over [MaxResponseSize] wraps
//     [ErrResponseTooLarge];
//   - transport failures, timeouts and the end of the caller's context are
//     returned wrapped, so errors.Is(err, context.Canceled) and
//     errors.Is(err, context.DeadlineExceeded) work.
//
// A Settle error after which the payment may nevertheless have been settled
// (the request may have reached the facilitator but no valid answer came
// back: a broken connection, a timeout, a 5xx status, a malformed body)
// also wraps [ErrSettleOutcomeUnknown]. Callers that must not lose track of
// money should treat such a payment as possibly settled and reconcile it
// rather than serve or refuse blindly.
//
// # Retries
//
// Retries happen only where they are safe:
//   - /verify and /supported are idempotent. They are retried (Config.Retries
//     times, 2 by default) after a transport failure or per-attempt timeout
//     and after a 429, 502, 503 or 504 response, with a jittered exponential
//     backoff (100 ms, 200 ms, ... by default) that honours the context. A
//     Retry-After header (seconds or an HTTP date) on such a response is
//     honoured; when it asks for more than 10 seconds the call is not
//     retried and the response is returned as an [*HTTPError].
//   - /settle moves money and is never retried once the request may have
//     reached the facilitator: not after a response of any status (including
//     429 and 503), not after a timeout, not after a connection that broke
//     while the request was being sent or the answer read. It is retried
//     only when the connection could not be established at all: the error
//     is a *net.OpError whose Op is "dial", or a *net.DNSError.
//
// No retry waits past the context's deadline: if the next attempt could not
// start before it, the last result is returned at once.
//
// # Reserved funds
//
// Whether the facilitator reserves a payer's funds between verify and
// settle cannot be read from it: Config.ReservesFunds says so (true for a
// go402 facilitator, false for x402.org's), and [Client.ReservesFunds]
// reports it, so that a resource server (x402http) knows whether it must
// bound the payments it serves before they settle.
//
// # Logging
//
// Request and response bodies contain payment signatures and are never
// logged, and neither are error texts. At Debug level the client logs, for
// each attempt, the endpoint, the attempt number, the status (or, after a
// transport failure, whether it was a failure to connect), the duration and
// any retry delay.
package remote
