package x402http

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/go402/go402/x402"
)

// Policy says when a route's payment is settled relative to serving.
type Policy int

const (
	// SettleBeforeServe buffers the handler's response and releases it only
	// after the payment settled; if settlement fails the client gets 402
	// with the settlement response and the buffered body is dropped.
	SettleBeforeServe Policy = iota
	// ServeThenSettle responds as soon as the payment is verified and
	// settles afterwards through the durable [Config.Queue]; for
	// micro-payments and streaming responses.
	ServeThenSettle
)

// PaymentOption is one way to pay for a route.
type PaymentOption struct {
	// Scheme is the payment scheme; "" means "exact".
	Scheme string
	// Network is the CAIP-2 network, such as "eip155:8453".
	Network x402.Network
	// Price is a human price ("$0.001", "0.25 USDC") resolved through
	// Config.Pricing. If empty, Amount, Asset and Extra are used as given.
	Price string
	// Amount, Asset and Extra give the price in atomic units of an explicit
	// asset, with the scheme's extra (for EVM exact: the token's EIP-712
	// name and version).
	Amount x402.Amount
	Asset  string
	Extra  x402.Object
	// PayTo is the address that receives the payment.
	PayTo string
}

// Route configures payment for the requests matching Pattern.
type Route struct {
	// Pattern is "[METHOD ]PATH". PATH segments are literals, "{name}"
	// parameters, or a final "*" or "{name...}" matching the rest. Matching
	// is done on the cleaned, decoded request path, so encoded or doubled
	// slashes and dot segments cannot bypass payment.
	Pattern string
	// Accepts are the payment options offered, in order of preference.
	Accepts []PaymentOption
	// Description and MimeType describe the resource in the 402 answer.
	Description string
	MimeType    string
	// MaxTimeoutSeconds is how long a payment authorization stays valid.
	// If zero, 300.
	MaxTimeoutSeconds int
	// Policy chooses when to settle; the zero value is SettleBeforeServe.
	Policy Policy
	// Price, if set, prices each request: its result replaces the Price of
	// every option. A zero price makes the request free.
	Price func(r *http.Request) (x402.Price, error)
	// Resource is the resource URL in the 402 answer. If empty, the
	// request's URL.
	Resource string
}

// Pricing turns a price on a network into payment requirements; an
// *evm.Networks registry (through evm.Pricing) implements it.
type Pricing interface {
	Requirements(network x402.Network, price x402.Price, payTo string, maxTimeoutSeconds int) (x402.PaymentRequirements, error)
}

// Queue durably holds settlements of ServeThenSettle routes until the
// facilitator has settled them, so none is lost on restart.
type Queue interface {
	// Enqueue stores a settlement to perform. It must be durable when it
	// returns.
	Enqueue(ctx context.Context, req *x402.FacilitatorRequest) error
	// Next blocks until a stored settlement is due or ctx ends, and
	// returns it with an id for Done.
	Next(ctx context.Context) (id string, req *x402.FacilitatorRequest, err error)
	// Done records the outcome of a settlement: it is removed from the
	// queue (or kept for retry if retry is true).
	Done(ctx context.Context, id string, resp *x402.SettleResponse, retry bool) error
}

// Config configures the payment middleware. Facilitator and Routes are
// required.
type Config struct {
	// Facilitator verifies and settles payments: go402's in-process
	// facilitator or a remote one (facilitator/remote).
	Facilitator x402.Facilitator
	// Pricing resolves option prices written as text. Required if any
	// option has a Price or a route has a Price func.
	Pricing Pricing
	// Routes are matched in order; the first match applies. Requests
	// matching no route pass through untouched.
	Routes []Route
	// Queue is required if any route uses ServeThenSettle.
	Queue Queue
	// Paywall, if set, renders the HTML page sent to browsers (requests
	// whose Accept includes text/html) with a 402; the PAYMENT-REQUIRED
	// header is already set and it must write the status. If nil, browsers
	// get the built-in wallet paywall (x402http/paywall).
	Paywall func(w http.ResponseWriter, r *http.Request, pr *x402.PaymentRequired)
	// MaxBufferBytes bounds the response buffered by SettleBeforeServe
	// routes; larger responses fail with 500 and are not charged. If
	// zero, 32 MiB.
	MaxBufferBytes int64
	// Logger receives logs. If nil, logs are discarded.
	Logger *slog.Logger
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
}

// Payment is a verified payment, available to the handler through
// [PaymentFromContext].
type Payment struct {
	Version      int
	Payer        string
	Requirements x402.PaymentRequirements
	// Request is what the middleware sends to the facilitator to settle.
	Request *x402.FacilitatorRequest
}

type paymentKey struct{}

// PaymentFromContext returns the verified payment of the request being
// served, if it paid.
func PaymentFromContext(ctx context.Context) (*Payment, bool) {
	p, ok := ctx.Value(paymentKey{}).(*Payment)
	return p, ok
}
